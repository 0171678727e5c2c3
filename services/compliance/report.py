"""Compliance report for a period: referrals per agency (CGS 51-286h), time to notify and to acknowledge
(p50, p95, max) per recipient kind, deadlines missed, escalations.

    uv run python -m services.compliance.report --from 2026-01-01 --to 2027-01-01 [--json]

Times run from the report's receipt by the Careline: that is when the legal clocks start. Escalation
notices (ids esc_...) are not referrals and are counted only as escalations.
"""

import argparse
import asyncio
import json
import math
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.compliance.period import period_arguments
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.reporting import NotificationFacts, audit_counts_between, notifications_received_between


@dataclass(frozen=True)
class Durations:
    count: int
    p50_s: float | None
    p95_s: float | None
    max_s: float | None


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: an observed value, never an interpolation."""
    rank = max(1, math.ceil(q * len(sorted_values)))
    return sorted_values[rank - 1]


def durations(values: list[float]) -> Durations:
    if not values:
        return Durations(0, None, None, None)
    ordered = sorted(values)
    return Durations(len(ordered), percentile(ordered, 0.5), percentile(ordered, 0.95), ordered[-1])


@dataclass
class ComplianceReport:
    start: str
    end: str
    generated_at: str
    reports: int
    referrals_per_agency: list[dict[str, Any]]
    time_to_notify: dict[str, Durations]
    time_to_acknowledge: dict[str, Durations]
    deadlines_missed: dict[str, int]
    missed_notifications: list[str]
    unacknowledged: dict[str, int]
    escalations: dict[str, int] = field(default_factory=dict)


def missed(n: NotificationFacts, now: datetime) -> bool:
    if n.acknowledged_at is not None:
        return n.acknowledged_at > n.deadline_at
    return now > n.deadline_at


def build_report(
    facts: list[NotificationFacts],
    audit: list[tuple[str, str | None]],
    start: datetime,
    end: datetime,
    now: datetime,
) -> ComplianceReport:
    referrals = [n for n in facts if not n.escalation]
    per_agency: Counter[tuple[str, str, str]] = Counter()
    for n in referrals:
        per_agency[(n.agency_id, n.agency_name, n.recipient_kind)] += 1
    notify: defaultdict[str, list[float]] = defaultdict(list)
    ack: defaultdict[str, list[float]] = defaultdict(list)
    for n in referrals:
        if n.delivered_at:
            notify[n.recipient_kind].append((n.delivered_at - n.received_at).total_seconds())
        if n.acknowledged_at:
            ack[n.recipient_kind].append((n.acknowledged_at - n.received_at).total_seconds())
    kinds = sorted({n.recipient_kind for n in referrals})
    late = [n for n in referrals if missed(n, now)]
    return ComplianceReport(
        start=start.isoformat(),
        end=end.isoformat(),
        generated_at=now.isoformat(),
        reports=len({n.report_id for n in referrals}),
        referrals_per_agency=[
            {"agency_id": a, "agency": name, "recipient_kind": kind, "referrals": count}
            for (a, name, kind), count in sorted(per_agency.items())
        ],
        time_to_notify={k: durations(notify[k]) for k in kinds},
        time_to_acknowledge={k: durations(ack[k]) for k in kinds},
        deadlines_missed={k: sum(n.recipient_kind == k for n in late) for k in kinds},
        missed_notifications=sorted(n.notification_id for n in late),
        unacknowledged={k: sum(n.recipient_kind == k and n.acknowledged_at is None for n in referrals) for k in kinds},
        escalations=dict(Counter(event for event, _ in audit if event in ("renotified", "escalated"))),
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}s"


def render(report: ComplianceReport) -> str:
    lines = [
        f"Compliance report {report.start} .. {report.end} (generated {report.generated_at})",
        f"Reports: {report.reports}",
        "",
        "Referrals per agency (CGS 51-286h):",
    ]
    lines += [
        f"  {r['agency_id']:<28} {r['recipient_kind']:<7} {r['referrals']:>5}  {r['agency']}"
        for r in report.referrals_per_agency
    ]
    lines += [
        "",
        f"  {'kind':<7} {'notify p50':>11} {'p95':>9} {'max':>9} | {'ack p50':>9} {'p95':>9} {'max':>9} | missed",
    ]
    for kind, notify in report.time_to_notify.items():
        ack = report.time_to_acknowledge[kind]
        lines.append(
            f"  {kind:<7} {_fmt(notify.p50_s):>11} {_fmt(notify.p95_s):>9} {_fmt(notify.max_s):>9} | "
            f"{_fmt(ack.p50_s):>9} {_fmt(ack.p95_s):>9} {_fmt(ack.max_s):>9} | {report.deadlines_missed[kind]}"
        )
    lines += [
        "",
        f"Deadlines missed: {len(report.missed_notifications)} {report.missed_notifications}",
        f"Unacknowledged: {report.unacknowledged}",
        f"Escalation steps: {report.escalations}",
    ]
    return "\n".join(lines)


async def compliance_report(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime, now: datetime | None = None
) -> ComplianceReport:
    facts = await notifications_received_between(sessions, start, end)
    audit = await audit_counts_between(sessions, start, end)
    return build_report(facts, audit, start, end, now or datetime.now(UTC))


async def _main(args: argparse.Namespace) -> ComplianceReport:
    engine = make_engine(DatabaseSettings().database_url)
    try:
        return await compliance_report(make_session_factory(engine), args.start, args.end)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    period_arguments(parser)
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    report = asyncio.run(_main(args))
    print(json.dumps(asdict(report), indent=2) if args.json else render(report))


if __name__ == "__main__":
    main()
