"""`python -m services.router.explain report.json`: the routing decision for one report, without Kafka.

Accepts a Careline report or intake's report.received event. Prints rules, recipients, reasons, the
fields each recipient will receive and the deadlines, so a policy change can be reviewed before it ships.
"""

import argparse
import json
import sys
from pathlib import Path

from services.router.decision import RoutingDecision, route_report
from services.router.payloads import fields_sent
from shared.directory.directory import load_directory
from shared.events import CarelineReport
from shared.policy.loader import DEFAULT_POLICY, PolicyInvalid, load_policy
from shared.policy.model import Policy


def read_report(path: Path) -> CarelineReport:
    data = json.loads(path.read_text(encoding="utf-8"))
    return CarelineReport.model_validate(data.get("report", data))


def render(decision: RoutingDecision, policy: Policy) -> str:
    lines = [
        f"report {decision.report_id} received {decision.received_at.isoformat()}",
        f"policy {decision.policy_version}; matched rules: {', '.join(decision.matched_rules)}",
        f"{len(decision.recipients)} recipients ({len(decision.fallbacks)} by fallback):",
    ]
    for r in decision.recipients:
        kind = policy.recipient_kinds[r.kind]
        deadline = decision.received_at + r.deadline
        tag = f" [FALLBACK {r.fallback_name}]" if r.fallback_name else (" [INFERRED]" if r.inferred else "")
        lines += [
            f"- {r.kind.value:<6} {r.agency.agency_id} ({r.agency.name}){tag}",
            f"    rule {r.rule}: {r.full_reason}",
            f"    deadline {deadline.isoformat()} ({r.deadline.total_seconds() / 3600:g} h); "
            f"ack SLA {kind.ack_sla_minutes} min",
            f"    fields: {', '.join(fields_sent(kind))}",
        ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("report", type=Path)
    parser.add_argument("--policy", type=Path, default=DEFAULT_POLICY)
    args = parser.parse_args(argv)
    directory = load_directory()
    try:
        policy = load_policy(directory.towns, args.policy)
    except PolicyInvalid as exc:
        print(exc, file=sys.stderr)
        return 2
    print(render(route_report(read_report(args.report), policy, directory), policy))
    return 0


if __name__ == "__main__":
    sys.exit(main())
