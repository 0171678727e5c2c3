"""Read-only queries behind the dashboard. They select ids, agency names, states and times only:
the database holds nothing else, and these never touch free-text fields an agency may have written."""

import math
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.models import (
    AuditEventRecord,
    EndpointStatusRecord,
    NotificationRecord,
    ReportRecord,
)
from shared.store.timeline import TimelineStep, timeline

STATES = ("pending", "retrying", "delivered", "acknowledged", "failed", "dead_lettered")
OPEN_STATES = ("pending", "retrying", "delivered", "failed", "dead_lettered")  # not yet acknowledged
N = NotificationRecord
SERVICE_ACTORS = frozenset({"intake", "router", "notifier", "acks", "escalator", "ops"})


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None when there is nothing to measure."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


def _none_outside(states: tuple[str, ...]) -> Any:
    """SQL condition: the report has no notification in a state outside ``states``."""
    return ~exists().where(and_(N.report_id == ReportRecord.report_id, N.state.not_in(states)))


def _actor(actor: str) -> str | None:
    """Ops users and services by name; an agency's own staff member (who acknowledged) is not shown."""
    return f"by {actor}" if actor.startswith("ops:") or actor in SERVICE_ACTORS else None


def ops_step(step: TimelineStep) -> dict[str, Any]:
    """A timeline step as ops may see it: who acted only when it was a service or an ops user, and no
    routing reason (it names the child's town); the deadline stays."""
    detail = step.detail
    if step.event == "notification_created" and detail:
        detail = "; ".join(part for part in detail.split("; ") if part.startswith(("deadline ", "fallback")))
    return {
        "at": step.at.isoformat(),
        "event": step.event,
        "actor": _actor(step.actor),
        "recipient_kind": step.recipient_kind,
        "agency_id": step.agency_id,
        "notification_id": step.notification_id,
        "detail": detail or None,
    }


def _who(n: NotificationRecord) -> dict[str, Any]:
    """Which notification, for which report, to whom: the ids and names every ops list starts with."""
    return {
        "notification_id": n.notification_id,
        "report_id": n.report_id,
        "recipient_kind": n.recipient_kind,
        "agency_id": n.agency_id,
        "agency_name": n.agency_name,
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class OpsQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def report_counts(self) -> dict[str, int]:
        """Reports by how far they got: every one of its notifications delivered, acknowledged, ..."""
        async with self._sessions() as session:
            routed = ReportRecord.routed_at.is_not(None)

            async def count(*where: Any) -> int:
                return int(await session.scalar(select(func.count()).select_from(ReportRecord).where(*where)) or 0)

            dead = await session.scalar(
                select(func.count(func.distinct(N.report_id))).where(N.state == "dead_lettered")
            )
            escalated = await session.scalar(
                select(func.count(func.distinct(AuditEventRecord.report_id))).where(
                    AuditEventRecord.event.like("escalat%")
                )
            )
            return {
                "received": await count(),
                "routed": await count(routed),
                "delivered": await count(routed, _none_outside(("delivered", "acknowledged"))),
                "acknowledged": await count(routed, _none_outside(("acknowledged",))),
                "escalated": int(escalated or 0),
                "dead_lettered": int(dead or 0),
            }

    async def by_recipient(self) -> list[dict[str, Any]]:
        """Per recipient kind and agency: counts by state, time to deliver and to acknowledge (p50, p95)."""
        async with self._sessions() as session:
            counts = await session.execute(
                select(N.recipient_kind, N.agency_id, N.agency_name, N.state, func.count()).group_by(
                    N.recipient_kind, N.agency_id, N.agency_name, N.state
                )
            )
            timings = await session.execute(
                select(N.recipient_kind, N.agency_id, N.created_at, N.delivered_at, N.acknowledged_at)
                .where(N.delivered_at.is_not(None))
                .order_by(N.created_at.desc())
                .limit(5000)
            )
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for kind, agency, name, state, n in counts.all():
            row = rows.setdefault(
                (kind, agency),
                {"recipient_kind": kind, "agency_id": agency, "agency_name": name, **dict.fromkeys(STATES, 0)},
            )
            row[state] = int(n)
        deliver: dict[tuple[str, str], list[float]] = {}
        ack: dict[tuple[str, str], list[float]] = {}
        for kind, agency, created, delivered, acked in timings.all():
            if delivered is None:
                continue
            deliver.setdefault((kind, agency), []).append((delivered - created).total_seconds())
            if acked:
                ack.setdefault((kind, agency), []).append((acked - created).total_seconds())
        for key, row in rows.items():
            row["deliver_p50_seconds"] = percentile(deliver.get(key, []), 0.5)
            row["deliver_p95_seconds"] = percentile(deliver.get(key, []), 0.95)
            row["ack_p50_seconds"] = percentile(ack.get(key, []), 0.5)
            row["ack_p95_seconds"] = percentile(ack.get(key, []), 0.95)
        return [rows[k] for k in sorted(rows)]

    async def open_notifications(self, limit: int = 200) -> list[dict[str, Any]]:
        """Unacknowledged notifications, soonest deadline first, with the time left on their clock."""
        now = datetime.now(UTC)
        async with self._sessions() as session:
            rows = await session.scalars(select(N).where(N.state.in_(OPEN_STATES)).order_by(N.deadline_at).limit(limit))
            return [
                {
                    **_who(r),
                    "state": r.state,
                    "deadline_at": _iso(r.deadline_at),
                    "clock_hours": round((r.deadline_at - r.created_at).total_seconds() / 3600, 1),
                    "seconds_left": round((r.deadline_at - now).total_seconds()),
                }
                for r in rows
            ]

    async def dead_lettered(self, limit: int = 200) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.scalars(
                select(N).where(N.state == "dead_lettered").order_by(N.created_at.desc()).limit(limit)
            )
            return [
                {
                    **_who(r),
                    "attempts": r.attempts,
                    "reason": r.last_error,
                }
                for r in rows
            ]

    async def disabled_endpoints(self) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.scalars(select(EndpointStatusRecord).where(EndpointStatusRecord.disabled))
            return [
                {"agency_id": r.agency_id, "reason": r.reason, "changed_at": _iso(r.changed_at), "by": r.changed_by}
                for r in rows
            ]

    async def report(self, report_id: str) -> dict[str, Any] | None:
        """One report: each recipient's state, and the audit timeline intake serves, cut to what ops may see."""
        steps = await timeline(self._sessions, report_id)
        if steps is None:
            return None
        async with self._sessions() as session:
            report = await session.get(ReportRecord, report_id)
            notifications = list(await session.scalars(select(N).where(N.report_id == report_id)))
        if report is None:  # purged between the two reads
            return None
        return {
            "report_id": report.report_id,
            "received_at": _iso(report.received_at),
            "routed_at": _iso(report.routed_at),
            "policy_version": report.policy_version,
            "recipients": [
                {
                    "notification_id": n.notification_id,
                    "recipient_kind": n.recipient_kind,
                    "agency_id": n.agency_id,
                    "agency_name": n.agency_name,
                    "state": n.state,
                    "attempts": n.attempts,
                    "deadline_at": _iso(n.deadline_at),
                    "delivered_at": _iso(n.delivered_at),
                    "acknowledged_at": _iso(n.acknowledged_at),
                }
                for n in sorted(notifications, key=lambda n: (n.recipient_kind, n.agency_id))
            ],
            "timeline": [ops_step(step) for step in steps],
        }
