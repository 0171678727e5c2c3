"""`python -m services.router.check_policy`: validate the policy and directory, print town coverage.

For each recipient kind: how many of the 169 towns resolve directly and how many only by fallback,
for a DMST report that triggers every rule (missing/runaway, foreign national) received today.
"""

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from services.router.decision import decide
from shared.directory.directory import Directory, load_directory
from shared.events import CarelineReport, RecipientKind
from shared.policy.loader import DEFAULT_POLICY, PolicyInvalid, load_policy
from shared.policy.model import Policy


def probe_report(town: str, received_at: datetime) -> CarelineReport:
    """A report that triggers every rule (missing/runaway, foreign national); no person in it, only placeholders."""
    return CarelineReport.model_validate(
        {
            "careline_report_id": "CL-COVERAGE-0001",
            "received_at": received_at.isoformat(),
            "classification": "dmst",
            "priority": "urgent",
            "child": {
                "first_name": "probe",
                "last_name": "probe",
                "date_of_birth": "2010-01-01",
                "foreign_national": True,
            },
            "missing_or_runaway": True,
            "residence_town": town,
            "narrative": "coverage probe",
            "reporter": {"name": "probe", "role": "probe"},
        }
    )


def coverage(policy: Policy, directory: Directory, when: datetime) -> dict[RecipientKind, Counter[str]]:
    table: dict[RecipientKind, Counter[str]] = {k: Counter() for k in RecipientKind}
    for town in directory.towns:
        decision = decide(probe_report(town.name, when), policy, directory)
        for kind in RecipientKind:
            mine = [r for r in decision.recipients if r.kind is kind]
            if not mine:
                table[kind]["none"] += 1
            elif any(r.fallback for r in mine):
                table[kind]["fallback"] += 1
            else:
                table[kind]["direct"] += 1
    return table


def render(table: dict[RecipientKind, Counter[str]], towns: int) -> str:
    lines = [f"{'kind':<8}{'direct':>8}{'fallback':>10}{'none':>6}   (of {towns} towns)"]
    lines += [f"{k.value:<8}{c['direct']:>8}{c['fallback']:>10}{c['none']:>6}" for k, c in table.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=datetime.now(UTC))
    args = parser.parse_args(argv)
    try:
        directory = load_directory()
        policy = load_policy(directory.towns, args.policy)
    except (PolicyInvalid, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"policy {policy.version} valid; directory: {len(directory.towns)} towns")
    print(render(coverage(policy, directory, args.as_of), len(directory.towns)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
