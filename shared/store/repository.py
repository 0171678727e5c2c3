"""The pipeline's reads and writes. Each function is one transaction and safe to repeat."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.states import DELIVERED_STATES, AttemptOutcome, NotificationState
from shared.store.batching import Coalescer
from shared.store.models import (
    DeliveryAttemptRecord,
    EndpointStatusRecord,
    NotificationRecord,
    ReportRecord,
)
from shared.store.upsert import insert_ignore

# More writes a caller adds to one of these transactions (e.g. the router's report history).
InTransaction = Callable[[AsyncSession], Awaitable[None]]


@dataclass(frozen=True)
class AttemptToRecord:
    notification_id: str
    outcome: AttemptOutcome
    started_at: datetime
    finished_at: datetime
    status_code: int | None
    error: str | None
    new_state: NotificationState
    next_attempt_at: datetime | None = None


@dataclass(frozen=True)
class ExistingReport:
    content_sha256: str
    routed: bool


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._state_reads: Coalescer[str, NotificationState | None] = Coalescer(self._read_states)
        self._attempt_writes: Coalescer[AttemptToRecord, int] = Coalescer(self._write_attempts)
        self._disabled: frozenset[str] = frozenset()
        self._disabled_read_at = float("-inf")

    # --- router -----------------------------------------------------------------------------------
    async def existing_report(self, report_id: str) -> ExistingReport | None:
        async with self._sessions() as session:
            row = await session.get(ReportRecord, report_id)
            if row is None:
                return None
            return ExistingReport(row.content_sha256, row.routed_at is not None)

    async def record_routing(
        self, report: dict[str, Any], notifications: list[dict[str, Any]], also: InTransaction | None = None
    ) -> None:
        """Report and its notifications in one transaction, before anything is published (with `also`: the
        router's report-history rows, in the same transaction)."""
        async with self._sessions.begin() as session:
            await insert_ignore(session, ReportRecord, [report])
            if notifications:
                await insert_ignore(session, NotificationRecord, notifications)
            if also is not None:
                await also(session)

    async def mark_routed(self, report_id: str, at: datetime, also: InTransaction | None = None) -> None:
        async with self._sessions.begin() as session:
            await session.execute(update(ReportRecord).where(ReportRecord.report_id == report_id).values(routed_at=at))
            if also is not None:
                await also(session)

    async def count_duplicate(self, report_id: str) -> None:
        async with self._sessions.begin() as session:
            await session.execute(
                update(ReportRecord)
                .where(ReportRecord.report_id == report_id)
                .values(duplicates_received=ReportRecord.duplicates_received + 1)
            )

    # --- notifier ---------------------------------------------------------------------------------
    async def notification_state(self, notification_id: str) -> NotificationState | None:
        """Read together with every other lookup waiting at the same moment (one query for many)."""
        return await self._state_reads.submit(notification_id)

    async def _read_states(self, ids: list[str]) -> list[NotificationState | None]:
        async with self._sessions() as session:
            rows = await session.execute(
                select(NotificationRecord.notification_id, NotificationRecord.state).where(
                    NotificationRecord.notification_id.in_(set(ids))
                )
            )
            states = {nid: NotificationState(state) for nid, state in rows.all()}
        return [states.get(nid) for nid in ids]

    async def record_attempt(self, attempt: "AttemptToRecord") -> int:
        """Count the attempt and move the notification's state; returns the attempt number. Attempts submitted at
        the same moment share one transaction."""
        return await self._attempt_writes.submit(attempt)

    async def _write_attempts(self, attempts: list["AttemptToRecord"]) -> list[int]:
        async with self._sessions.begin() as session:
            ids = {a.notification_id for a in attempts}
            rows = {
                row.notification_id: row
                for row in await session.scalars(
                    select(NotificationRecord)
                    .where(NotificationRecord.notification_id.in_(ids))
                    .order_by(NotificationRecord.notification_id)
                    .with_for_update()
                )
            }
            numbers = []
            for attempt in attempts:
                row = rows.get(attempt.notification_id)
                if row is None:
                    raise LookupError(f"notification {attempt.notification_id} is not in the store")
                row.attempts += 1
                row.last_error = attempt.error
                row.next_attempt_at = attempt.next_attempt_at
                if row.state not in DELIVERED_STATES:
                    row.state = attempt.new_state
                if attempt.new_state == NotificationState.DELIVERED and row.delivered_at is None:
                    row.delivered_at = attempt.finished_at
                session.add(
                    DeliveryAttemptRecord(
                        notification_id=attempt.notification_id,
                        attempt_no=row.attempts,
                        started_at=attempt.started_at,
                        finished_at=attempt.finished_at,
                        outcome=attempt.outcome,
                        status_code=attempt.status_code,
                        error=attempt.error,
                    )
                )
                numbers.append(row.attempts)
            return numbers

    async def attempts(self, notification_id: str) -> int:
        row = await self.notification(notification_id)
        return row.attempts if row else 0

    # --- acknowledgements -------------------------------------------------------------------------
    async def notification(self, notification_id: str) -> NotificationRecord | None:
        async with self._sessions() as session:
            return await session.get(NotificationRecord, notification_id)

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

    async def set_state(self, notification_id: str, state: str) -> None:
        """Used for terminal failure states; never moves a delivered notification backwards."""
        async with self._sessions.begin() as session:
            await session.execute(
                update(NotificationRecord)
                .where(NotificationRecord.notification_id == notification_id)
                .where(NotificationRecord.state.not_in(DELIVERED_STATES))
                .values(state=state)
            )

    # --- endpoints --------------------------------------------------------------------------------
    async def endpoint_disabled(self, agency_id: str) -> bool:
        """The disabled set is read at most every 2 s; a 'disabled' answer is confirmed in the database, so an
        endpoint ops just re-enabled is never refused on a stale read."""
        if time.monotonic() - self._disabled_read_at > 2.0:
            async with self._sessions() as session:
                rows = await session.scalars(
                    select(EndpointStatusRecord.agency_id).where(EndpointStatusRecord.disabled)
                )
                self._disabled, self._disabled_read_at = frozenset(rows), time.monotonic()
        if agency_id not in self._disabled:
            return False
        async with self._sessions() as session:
            row = await session.get(EndpointStatusRecord, agency_id)
            return bool(row and row.disabled)

    async def set_endpoint_disabled(
        self, agency_id: str, disabled: bool, *, reason: str | None, by: str, at: datetime
    ) -> None:
        self._disabled_read_at = float("-inf")
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
