"""Every ops action leaves an immutable audit event: what, on which ids, by whom and when."""

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.models import AuditEventRecord


async def record_action(
    sessions: async_sessionmaker[AsyncSession],
    *,
    event: str,
    actor: str,
    report_id: str | None = None,
    notification_id: str | None = None,
    agency_id: str | None = None,
    detail: str | None = None,
) -> None:
    async with sessions.begin() as session:
        session.add(
            AuditEventRecord(
                occurred_at=datetime.now(UTC),
                event=event,
                actor=f"ops:{actor}"[:120],
                report_id=report_id,
                notification_id=notification_id,
                agency_id=agency_id,
                detail=detail[:500] if detail else None,
            )
        )
