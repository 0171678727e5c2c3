"""`python -m services.router.check_policy`: validate the policy and directory, print town coverage.

For each recipient kind: how many of the 169 towns resolve directly, by an inferred directory row, or only
by fallback, for a DMST report that triggers every rule (missing/runaway, foreign national) received on the
given day; then every fallback and every inferred row with its reason. A broken data row or policy line
exits 2 and names it.
"""

import argparse
import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from services.router.decision import RoutingDecision, route_report
from shared.directory.directory import Directory, load_directory
from shared.directory.towns import DATA_DIR
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


def decisions(policy: Policy, directory: Directory, when: datetime) -> dict[str, RoutingDecision]:
    return {t.name: route_report(probe_report(t.name, when), policy, directory) for t in directory.towns}


def coverage(by_town: dict[str, RoutingDecision]) -> dict[RecipientKind, Counter[str]]:
    """A town counts as fallback for a kind if any of its recipients of that kind is one, else inferred if any is."""
    table: dict[RecipientKind, Counter[str]] = {k: Counter() for k in RecipientKind}
    for decision in by_town.values():
        for kind in RecipientKind:
            mine = [r for r in decision.recipients if r.kind is kind]
            if not mine:
                table[kind]["none"] += 1
            elif any(r.fallback_name for r in mine):
                table[kind]["fallback"] += 1
            elif any(r.inferred for r in mine):
                table[kind]["inferred"] += 1
            else:
                table[kind]["direct"] += 1
    return table


def render(table: dict[RecipientKind, Counter[str]], towns: int) -> str:
    lines = [f"{'kind':<8}{'direct':>8}{'inferred':>10}{'fallback':>10}{'none':>6}   (of {towns} towns)"]
    lines += [
        f"{k.value:<8}{c['direct']:>8}{c['inferred']:>10}{c['fallback']:>10}{c['none']:>6}" for k, c in table.items()
    ]
    return "\n".join(lines)


def listing(by_town: dict[str, RoutingDecision], directory: Directory, when: datetime) -> str:
    """Every fallback and inferred answer, one line each, with the reason a user can check (see DIRECTORY.md)."""
    lines = []
    for name, decision in by_town.items():
        for r in decision.recipients:
            if r.fallback_name:
                lines.append(f"FALLBACK {r.kind.value:<6} {name:<16} -> {r.agency.agency_id}: {r.detail}")
            elif r.inferred:
                answer = directory.mdt(directory.town(name), when.date())
                why = answer.inferred if answer and answer.inferred else r.detail
                lines.append(f"INFERRED {r.kind.value:<6} {name:<16} -> {r.agency.agency_id}: {why[:160]}")
    return "\n".join(sorted(lines))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR, help="directory data files (CSV)")
    parser.add_argument("--as-of", type=datetime.fromisoformat, default=datetime.now(UTC))
    parser.add_argument("--quiet", action="store_true", help="coverage table only, no fallback/inferred listing")
    args = parser.parse_args(argv)
    try:
        directory = load_directory(args.data_dir)
        policy = load_policy(directory.towns, args.policy)
    except (PolicyInvalid, ValueError) as exc:
        print(exc, file=sys.stderr)
        return 2
    when = args.as_of if args.as_of.tzinfo else args.as_of.replace(tzinfo=UTC)
    by_town = decisions(policy, directory, when)
    print(f"policy {policy.version} valid; directory: {len(directory.towns)} towns; as of {when.date()}")
    print(render(coverage(by_town), len(directory.towns)))
    if not args.quiet:
        print(listing(by_town, directory, when))
    return 0


if __name__ == "__main__":
    sys.exit(main())
