"""Reads for the compliance report, the CSV export and retention: whole periods, ids and times only."""

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.models import (
    AcknowledgementRecord,
    AuditEventRecord,
    DeliveryAttemptRecord,
    EscalationTimerRecord,
    NotificationRecord,
    ReportRecord,
)


@dataclass(frozen=True)
class NotificationFacts:
    report_id: str
    notification_id: str
    recipient_kind: str
    agency_id: str
    agency_name: str
    received_at: datetime
    created_at: datetime
    delivered_at: datetime | None
    acknowledged_at: datetime | None
    deadline_at: datetime

    @property
    def escalation(self) -> bool:
        return self.notification_id.startswith("esc_")


async def notifications_received_between(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime
) -> list[NotificationFacts]:
    async with sessions() as session:
        rows = await session.execute(
            select(NotificationRecord, ReportRecord.received_at)
            .join(ReportRecord, ReportRecord.report_id == NotificationRecord.report_id)
            .where(ReportRecord.received_at >= start, ReportRecord.received_at < end)
            .order_by(ReportRecord.received_at, NotificationRecord.notification_id)
        )
        return [
            NotificationFacts(
                n.report_id,
                n.notification_id,
                n.recipient_kind,
                n.agency_id,
                n.agency_name,
                received,
                n.created_at,
                n.delivered_at,
                n.acknowledged_at,
                n.deadline_at,
            )
            for n, received in rows.all()
        ]


async def audit_counts_between(
    sessions: async_sessionmaker[AsyncSession], start: datetime, end: datetime
) -> list[tuple[str, str | None]]:
    """(event, notification_id) for every audit record of reports received in the period."""
    async with sessions() as session:
        rows = await session.execute(
            select(AuditEventRecord.event, AuditEventRecord.notification_id)
            .join(ReportRecord, ReportRecord.report_id == AuditEventRecord.report_id)
            .where(ReportRecord.received_at >= start, ReportRecord.received_at < end)
        )
        return [(event, nid) for event, nid in rows.all()]


async def purge_reports_received_before(
    sessions: async_sessionmaker[AsyncSession], cutoff: datetime, dry_run: bool = False
) -> int:
    """Delete reports received before the cutoff with every record that hangs off them; returns reports."""
    async with sessions.begin() as session:
        report_ids = select(ReportRecord.report_id).where(ReportRecord.received_at < cutoff)
        count = len(list(await session.scalars(report_ids)))
        if dry_run or count == 0:
            return count
        notification_ids = select(NotificationRecord.notification_id).where(
            NotificationRecord.report_id.in_(report_ids)
        )
        await session.execute(delete(AuditEventRecord).where(AuditEventRecord.report_id.in_(report_ids)))
        for model in (EscalationTimerRecord, AcknowledgementRecord, DeliveryAttemptRecord):
            await session.execute(delete(model).where(model.notification_id.in_(notification_ids)))
        await session.execute(delete(NotificationRecord).where(NotificationRecord.report_id.in_(report_ids)))
        await session.execute(delete(ReportRecord).where(ReportRecord.received_at < cutoff))
        return count
