"""The per-report timeline: the whole story of one report, in order, from the immutable tables and audit_events.

Most steps are already immutable facts in their own tables (reports, notifications, delivery attempts);
audit_events (shared/store/audit_trail.py) holds the rest. Nothing here holds personal data.
"""

from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.models import AuditEventRecord, DeliveryAttemptRecord, NotificationRecord, ReportRecord


@dataclass(frozen=True)
class TimelineStep:
    at: datetime
    event: str
    actor: str
    report_id: str
    notification_id: str | None = None
    agency_id: str | None = None
    recipient_kind: str | None = None
    detail: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {**asdict(self), "at": self.at.isoformat()}


# Same-instant steps keep their causal order.
_RANK = {
    "received": 0,
    "accepted": 1,
    "routed": 2,
    "notification_created": 3,
    "delivery_attempt": 4,
    "delivered": 5,
    "acknowledged": 6,
    "ack_repeated": 7,
    "deadline_met": 8,
    "renotified": 9,
    "escalated": 10,
    "deadline_missed": 11,
}


async def timeline(sessions: async_sessionmaker[AsyncSession], report_id: str) -> list[TimelineStep] | None:
    """The whole story of one report in order, or None when the report is unknown."""
    async with sessions() as session:
        report = await session.get(ReportRecord, report_id)
        if report is None:
            return None
        notifications = list(
            await session.scalars(select(NotificationRecord).where(NotificationRecord.report_id == report_id))
        )
        ids = [n.notification_id for n in notifications]
        attempts = list(
            await session.scalars(select(DeliveryAttemptRecord).where(DeliveryAttemptRecord.notification_id.in_(ids)))
        )
        audits = list(await session.scalars(select(AuditEventRecord).where(AuditEventRecord.report_id == report_id)))
    return build_timeline(report, notifications, attempts, audits)


def build_timeline(
    report: ReportRecord,
    notifications: list[NotificationRecord],
    attempts: list[DeliveryAttemptRecord],
    audits: list[AuditEventRecord],
) -> list[TimelineStep]:
    rid = report.report_id
    kinds = {n.notification_id: n for n in notifications}
    steps = [
        TimelineStep(report.received_at, "received", "careline", rid, detail=f"classification {report.classification}"),
        TimelineStep(report.accepted_at, "accepted", "intake", rid),
        TimelineStep(
            report.first_routed_at,
            "routed",
            "router",
            rid,
            detail=f"policy {report.policy_version}; {report.notification_count} recipient(s)",
        ),
    ]
    for n in notifications:
        steps.append(
            TimelineStep(
                n.created_at,
                "notification_created",
                "escalator" if n.notification_id.startswith("esc_") else "router",
                rid,
                n.notification_id,
                n.agency_id,
                n.recipient_kind,
                f"{n.reason}; deadline {n.deadline_at.isoformat()}" + ("; fallback" if n.fallback else ""),
            )
        )
        if n.delivered_at is not None:
            steps.append(
                TimelineStep(
                    n.delivered_at, "delivered", "notifier", rid, n.notification_id, n.agency_id, n.recipient_kind
                )
            )
    for a in attempts:
        n = kinds[a.notification_id]
        code = f" HTTP {a.status_code}" if a.status_code is not None else ""
        steps.append(
            TimelineStep(
                a.finished_at,
                "delivery_attempt",
                "notifier",
                rid,
                a.notification_id,
                n.agency_id,
                n.recipient_kind,
                f"attempt {a.attempt_no}: {a.outcome}{code}",
            )
        )
    for e in audits:
        owner = kinds.get(e.notification_id or "")
        steps.append(
            TimelineStep(
                e.occurred_at,
                e.event,
                e.actor,
                rid,
                e.notification_id,
                e.agency_id,
                owner.recipient_kind if owner else None,
                e.detail,
            )
        )
    return sorted(steps, key=lambda s: (s.at, _RANK.get(s.event, 50), s.notification_id or ""))


async def report_ids_between(sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime) -> list[str]:
    """Reports received in [start, end), oldest first: the unit of the CSV export."""
    async with sessions() as session:
        rows = await session.scalars(
            select(ReportRecord.report_id)
            .where(ReportRecord.received_at >= start, ReportRecord.received_at < end)
            .order_by(ReportRecord.received_at)
        )
        return list(rows)
