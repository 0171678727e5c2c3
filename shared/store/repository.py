"""The pipeline's reads and writes. Each function is one transaction and safe to repeat."""

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.states import DELIVERED_STATES, AttemptOutcome, NotificationState
from shared.store.batching import Coalescer
from shared.store.engine import readers
from shared.store.models import (
    DeliveryAttemptRecord,
    EndpointStatusRecord,
    NotificationRecord,
    ReportRecord,
    table_of,
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


@dataclass
class _Progress:
    attempts: int
    state: NotificationState
    delivered_at: datetime | None
    last_error: str | None = None
    next_attempt_at: datetime | None = None


_N = table_of(NotificationRecord).c
_LOCK_FOR_ATTEMPTS = (
    select(_N.notification_id, _N.attempts, _N.state, _N.delivered_at)
    .where(_N.notification_id.in_(bindparam("ids", expanding=True)))
    .order_by(_N.notification_id)
    .with_for_update()
)
_RECORD_PROGRESS = (
    update(table_of(NotificationRecord))
    .where(_N.notification_id == bindparam("nid"))
    .values(
        attempts=bindparam("new_attempts"),
        last_error=bindparam("new_error"),
        next_attempt_at=bindparam("new_next"),
        state=bindparam("new_state"),
        delivered_at=bindparam("new_delivered"),
    )
)
_INSERT_ATTEMPT = insert(table_of(DeliveryAttemptRecord))
_R = table_of(ReportRecord).c
_EXISTING_REPORT = select(_R.content_sha256, _R.routed_at).where(_R.report_id == bindparam("rid"))
_MARK_ROUTED = update(table_of(ReportRecord)).where(_R.report_id == bindparam("rid")).values(routed_at=bindparam("at_"))
_STATES = select(_N.notification_id, _N.state).where(_N.notification_id.in_(bindparam("ids", expanding=True)))


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._state_reads: Coalescer[str, NotificationState | None] = Coalescer(self._read_states)
        self._attempt_writes: Coalescer[AttemptToRecord, int] = Coalescer(self._write_attempts)
        self._disabled: frozenset[str] = frozenset()
        self._disabled_read_at = float("-inf")

    # --- router -----------------------------------------------------------------------------------
    async def existing_report(self, report_id: str) -> ExistingReport | None:
        async with readers(self._sessions)() as session:
            row = (await session.execute(_EXISTING_REPORT, {"rid": report_id})).first()
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
            await session.execute(_MARK_ROUTED, {"rid": report_id, "at_": at})
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
        async with readers(self._sessions)() as session:
            rows = await session.execute(_STATES, {"ids": sorted(set(ids))})
            states = {nid: NotificationState(state) for nid, state in rows.all()}
        return [states.get(nid) for nid in ids]

    async def record_attempt(self, attempt: "AttemptToRecord") -> int:
        """Count the attempt and move the notification's state; returns the attempt number. Attempts submitted at
        the same moment share one transaction."""
        return await self._attempt_writes.submit(attempt)

    async def _write_attempts(self, attempts: list["AttemptToRecord"]) -> list[int]:
        """Cached Core statements, rows as parameters (executemany): the ORM's unit of work cost more CPU than
        the delivery it recorded."""
        async with self._sessions.begin() as session:
            ids = sorted({a.notification_id for a in attempts})
            current = {
                nid: _Progress(count, NotificationState(state), delivered_at)
                for nid, count, state, delivered_at in (await session.execute(_LOCK_FOR_ATTEMPTS, {"ids": ids})).all()
            }
            numbers, attempt_rows = [], []
            for attempt in attempts:
                row = current.get(attempt.notification_id)
                if row is None:
                    raise LookupError(f"notification {attempt.notification_id} is not in the store")
                row.attempts += 1
                row.last_error = attempt.error
                row.next_attempt_at = attempt.next_attempt_at
                if row.state not in DELIVERED_STATES:
                    row.state = attempt.new_state
                if attempt.new_state == NotificationState.DELIVERED and row.delivered_at is None:
                    row.delivered_at = attempt.finished_at
                attempt_rows.append(
                    {
                        "notification_id": attempt.notification_id,
                        "attempt_no": row.attempts,
                        "started_at": attempt.started_at,
                        "finished_at": attempt.finished_at,
                        "outcome": attempt.outcome.value,
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                    }
                )
                numbers.append(row.attempts)
            await session.execute(
                _RECORD_PROGRESS,
                [
                    {
                        "nid": nid,
                        "new_attempts": p.attempts,
                        "new_error": p.last_error,
                        "new_next": p.next_attempt_at,
                        "new_state": p.state.value,
                        "new_delivered": p.delivered_at,
                    }
                    for nid, p in current.items()  # exactly the notifications attempted (locked by id above)
                ],
            )
            await session.execute(_INSERT_ATTEMPT, attempt_rows)
            return numbers

    async def attempts(self, notification_id: str) -> int:
        row = await self.notification(notification_id)
        return row.attempts if row else 0

    # --- acknowledgements -------------------------------------------------------------------------
    async def notification(self, notification_id: str) -> NotificationRecord | None:
        async with readers(self._sessions)() as session:
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
