"""The pipeline's reads and writes. Each function is one transaction and safe to repeat."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.states import DELIVERED_STATES, AttemptOutcome, NotificationState
from shared.store.batching import Coalescer, ItemFailed, together_or_alone
from shared.store.engine import autocommit_sessions
from shared.store.models import (
    DeliveryAttemptRecord,
    EndpointStatusRecord,
    NotificationRecord,
    ReportRecord,
    table_of,
)
from shared.store.report_history import set_versions_routed, write_versions
from shared.store.upsert import insert_ignore


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
class RoutingRows:
    """What routing one report version writes before it publishes: the report, its notifications, and its
    history (shared/store/report_history.py)."""

    report: dict[str, Any]
    notifications: list[dict[str, Any]]
    version: dict[str, Any]
    holders: list[dict[str, Any]]
    notices: list[dict[str, Any]]


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
_EXISTING_REPORTS = select(_R.report_id, _R.content_sha256, _R.routed_at).where(
    _R.report_id.in_(bindparam("ids", expanding=True))
)
_MARK_ROUTED = update(table_of(ReportRecord)).where(_R.report_id == bindparam("rid")).values(routed_at=bindparam("at_"))
_STATES = select(_N.notification_id, _N.state).where(_N.notification_id.in_(bindparam("ids", expanding=True)))


class Store:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._state_reads: Coalescer[str, NotificationState | None] = Coalescer(self._read_states)
        self._attempt_writes: Coalescer[AttemptToRecord, int] = Coalescer(self._write_attempts)
        self._report_reads: Coalescer[str, ExistingReport | None] = Coalescer(self._read_reports)
        self._routing_writes: Coalescer[RoutingRows, None] = Coalescer(self._write_routings)
        self._routed_marks: Coalescer[tuple[str, int, datetime], None] = Coalescer(self._mark_routed)
        self._disabled: frozenset[str] = frozenset()
        self._disabled_read_at = float("-inf")

    # --- router -----------------------------------------------------------------------------------
    async def existing_report(self, report_id: str) -> ExistingReport | None:
        """Read together with every other lookup waiting at the same moment (one query for many)."""
        return await self._report_reads.submit(report_id)

    async def _read_reports(self, ids: list[str]) -> list[ExistingReport | None]:
        async with autocommit_sessions(self._sessions)() as session:
            rows = await session.execute(_EXISTING_REPORTS, {"ids": sorted(set(ids))})
            found = {rid: ExistingReport(sha, routed_at is not None) for rid, sha, routed_at in rows.all()}
        return [found.get(rid) for rid in ids]

    async def record_routing(self, rows: RoutingRows) -> None:
        """The report, its notifications and its history in one transaction, before anything is published. Reports
        routed at the same moment share the transaction and one statement per table (group commit)."""
        await self._routing_writes.submit(rows)

    async def _write_routings(self, batch: list[RoutingRows]) -> list[ItemFailed | None]:
        async def together(routings: list[RoutingRows]) -> list[None]:
            async with self._sessions.begin() as session:
                await insert_ignore(session, ReportRecord, _by(routings, lambda r: [r.report], "report_id"))
                notifications = _by(routings, lambda r: r.notifications, "notification_id")
                await insert_ignore(session, NotificationRecord, notifications)
                await write_versions(
                    session,
                    _by(routings, lambda r: [r.version], "report_id", "report_version"),
                    _by(routings, lambda r: r.holders, "report_id", "recipient_kind", "agency_id"),
                    _by(routings, lambda r: r.notices, "agency_id", "report_id", "linked_report_id"),
                )
            return [None] * len(routings)

        return await together_or_alone(batch, together)

    async def mark_routed(self, report_id: str, version: int, at: datetime) -> None:
        """After every publish is acked: the report and this version count as routed (a redelivery is then a
        duplicate). Marked together with every other report marked at the same moment."""
        await self._routed_marks.submit((report_id, version, at))

    async def _mark_routed(self, marks: list[tuple[str, int, datetime]]) -> list[ItemFailed | None]:
        async def together(batch: list[tuple[str, int, datetime]]) -> list[None]:
            ordered = sorted(batch, key=lambda m: (m[0], m[1]))
            async with self._sessions.begin() as session:
                await session.execute(_MARK_ROUTED, [{"rid": rid, "at_": at} for rid, _, at in ordered])
                await set_versions_routed(session, ordered)
            return [None] * len(batch)

        return await together_or_alone(marks, together)

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
        async with autocommit_sessions(self._sessions)() as session:
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
        async with autocommit_sessions(self._sessions)() as session:
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


def _by(
    routings: list[RoutingRows], rows: Callable[[RoutingRows], list[dict[str, Any]]], *key: str
) -> list[dict[str, Any]]:
    """One table's rows from every routing in the batch, in key order: two transactions inserting overlapping
    rows then lock them in the same order (no deadlock)."""
    return sorted((row for r in routings for row in rows(r)), key=lambda row: tuple(row[k] for k in key))
