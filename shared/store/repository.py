"""The pipeline's reads and writes. Each function is one transaction and safe to repeat."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.models import (
    AcknowledgementRecord,
    DeliveryAttemptRecord,
    EndpointStatusRecord,
    NotificationRecord,
    ReportRecord,
)
from shared.store.upsert import insert_ignore

TERMINAL_DELIVERED = ("delivered", "acknowledged")


@dataclass(frozen=True)
class ExistingReport:
    content_sha256: str
    routed: bool


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    # --- router -----------------------------------------------------------------------------------
    async def existing_report(self, report_id: str) -> ExistingReport | None:
        async with self._sessions() as session:
            row = await session.get(ReportRecord, report_id)
            if row is None:
                return None
            return ExistingReport(row.content_sha256, row.routed_at is not None)

    async def record_routing(self, report: dict[str, Any], notifications: list[dict[str, Any]]) -> None:
        """Report and its notifications in one transaction, before anything is published."""
        async with self._sessions.begin() as session:
            await session.execute(insert_ignore(session, ReportRecord, [report]))
            if notifications:
                await session.execute(insert_ignore(session, NotificationRecord, notifications))

    async def mark_routed(self, report_id: str, at: datetime) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(ReportRecord).where(ReportRecord.report_id == report_id).values(routed_at=at))

    async def count_duplicate(self, report_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ReportRecord)
                .where(ReportRecord.report_id == report_id)
                .values(duplicates_received=ReportRecord.duplicates_received + 1)
            )

    # --- notifier ---------------------------------------------------------------------------------
    async def notification_state(self, notification_id: str) -> str | None:
        async with self._sessions() as session:
            row = await session.get(NotificationRecord, notification_id)
            return row.state if row else None

    async def record_attempt(
        self,
        notification_id: str,
        *,
        outcome: str,
        started_at: datetime,
        finished_at: datetime,
        status_code: int | None,
        error: str | None,
        new_state: str,
        next_attempt_at: datetime | None = None,
    ) -> int:
        """Count the attempt and move the notification's state; returns the attempt number."""
        async with self._sessions.begin() as session:
            row = await session.get(NotificationRecord, notification_id, with_for_update=True)
            if row is None:
                raise LookupError(f"notification {notification_id} is not in the store")
            row.attempts += 1
            row.last_error = error
            row.next_attempt_at = next_attempt_at
            if row.state not in TERMINAL_DELIVERED:
                row.state = new_state
            if new_state == "delivered" and row.delivered_at is None:
                row.delivered_at = finished_at
            session.add(
                DeliveryAttemptRecord(
                    notification_id=notification_id,
                    attempt_no=row.attempts,
                    started_at=started_at,
                    finished_at=finished_at,
                    outcome=outcome,
                    status_code=status_code,
                    error=error,
                )
            )
            return row.attempts

    # --- acknowledgements -------------------------------------------------------------------------
    async def notification(self, notification_id: str) -> NotificationRecord | None:
        async with self._sessions() as session:
            return await session.get(NotificationRecord, notification_id)

    async def record_acknowledgement(
        self,
        *,
        notification_id: str,
        agency_id: str,
        acknowledged_by: str,
        note: str | None,
        webhook_id: str,
        at: datetime,
    ) -> bool:
        """True when this call recorded it; False when it was already acknowledged."""
        async with self._sessions.begin() as session:
            result = await session.execute(
                insert_ignore(
                    session,
                    AcknowledgementRecord,
                    [
                        {
                            "notification_id": notification_id,
                            "agency_id": agency_id,
                            "acknowledged_by": acknowledged_by,
                            "note": note,
                            "webhook_id": webhook_id,
                            "acknowledged_at": at,
                        }
                    ],
                )
            )
            created = bool(getattr(result, "rowcount", 0))
            if created:
                await session.execute(
                    update(NotificationRecord)
                    .where(NotificationRecord.notification_id == notification_id)
                    # An acknowledgement proves receipt: if the notifier died between the recipient's
                    # 2xx and recording it, the delivery time is at the latest the acknowledgement's.
                    .values(
                        state="acknowledged",
                        acknowledged_at=at,
                        delivered_at=func.coalesce(NotificationRecord.delivered_at, at),
                    )
                )
            return created

    # --- status -----------------------------------------------------------------------------------
    async def report_status(self, report_id: str) -> tuple[ReportRecord, list[NotificationRecord]] | None:
        async with self._sessions() as session:
            report = await session.get(ReportRecord, report_id)
            if report is None:
                return None
            rows = await session.scalars(
                select(NotificationRecord)
                .where(NotificationRecord.report_id == report_id)
                .order_by(NotificationRecord.recipient_kind, NotificationRecord.agency_id)
            )
            return report, list(rows)

    async def counts_by_kind_and_state(self) -> dict[tuple[str, str], int]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(NotificationRecord.recipient_kind, NotificationRecord.state, func.count()).group_by(
                    NotificationRecord.recipient_kind, NotificationRecord.state
                )
            )
            return {(kind, state): count for kind, state, count in rows.all()}

    async def report_count(self) -> int:
        async with self._sessions() as session:
            return int(await session.scalar(select(func.count()).select_from(ReportRecord)) or 0)

    async def set_state(self, notification_id: str, state: str) -> None:
        """Used for terminal failure states; never moves a delivered notification backwards."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(NotificationRecord)
                .where(NotificationRecord.notification_id == notification_id)
                .where(NotificationRecord.state.not_in(TERMINAL_DELIVERED))
                .values(state=state)
            )

    # --- endpoints --------------------------------------------------------------------------------
    async def endpoint_disabled(self, agency_id: str) -> bool:
        async with self._sessions() as session:
            row = await session.get(EndpointStatusRecord, agency_id)
            return bool(row and row.disabled)

    async def set_endpoint_disabled(
        self, agency_id: str, disabled: bool, *, reason: str | None, by: str, at: datetime
    ) -> None:
        async with self._sessions.begin() as session:
            row = await session.get(EndpointStatusRecord, agency_id)
            if row is None:
                session.add(
                    EndpointStatusRecord(
                        agency_id=agency_id, disabled=disabled, reason=reason, changed_at=at, changed_by=by
                    )
                )
            else:
                row.disabled, row.reason, row.changed_at, row.changed_by = disabled, reason, at, by

    async def disabled_endpoints(self) -> list[EndpointStatusRecord]:
        async with self._sessions() as session:
            return list(await session.scalars(select(EndpointStatusRecord).where(EndpointStatusRecord.disabled)))
