"""Durable escalation timers: scheduled idempotently, claimed with row locks, fired or cancelled once.

A timer row is created per (notification, step) when a routing decision is seen; the escalator claims due
rows with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite has a single writer and ignores it), so
several escalator instances never fire the same step at once, and a crashed one leaves its rows due.
"""

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.audit_trail import AuditEntry, add_audit
from shared.store.batching import Coalescer, ItemFailed, together_or_alone
from shared.store.models import EscalationTimerRecord, NotificationRecord, table_of
from shared.store.upsert import insert_ignore, inserted_keys

DEADLINE_STEP = 99
"""The step number of the timer that records a missed deadline (escalation steps are 0..98)."""

_T = table_of(EscalationTimerRecord).c
_N = table_of(NotificationRecord).c
_KNOWN = select(_N.notification_id).where(_N.notification_id.in_(bindparam("nids", expanding=True)))


class UnknownNotifications(Exception):
    """Timers were asked for notifications this store does not hold (nothing was written)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"{len(missing)} notification(s) not in the store")
        self.missing = missing


@dataclass(frozen=True)
class TimersFor:
    """One routing decision's timers, and the notifications the store must hold for them."""

    rows: list[dict[str, Any]]
    notifications: Sequence[str] = ()


async def schedule_timers(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]], for_notifications: Sequence[str] = ()
) -> int:
    """Insert timers that do not exist yet; a replayed routing decision adds nothing. Returns rows added.

    With `for_notifications`, the same transaction first checks that the store holds every one of them
    (UnknownNotifications otherwise): one round of the database per routing decision, not two."""
    async with sessions.begin() as session:
        [added] = await _schedule(session, [TimersFor(rows, for_notifications)])
    if isinstance(added, ItemFailed):
        raise added.error
    return added


class TimerScheduling:
    """schedule_timers for every routing decision that arrives at the same moment: one transaction, one lookup
    and one insert for all of them (group commit). A decision whose notifications the store lacks fails alone."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._batches: Coalescer[TimersFor, int] = Coalescer(self._flush)

    async def schedule(self, timers: TimersFor) -> int:
        return await self._batches.submit(timers)

    async def _flush(self, batch: list[TimersFor]) -> list[int | ItemFailed]:
        async def together(items: list[TimersFor]) -> list[int | ItemFailed]:
            async with self._sessions.begin() as session:
                return await _schedule(session, items)

        return await together_or_alone(batch, together)


async def _schedule(session: AsyncSession, items: list[TimersFor]) -> list[int | ItemFailed]:
    """Each item's count of timers added, or UnknownNotifications for an item (whose rows are then not written)."""
    wanted = sorted({nid for item in items for nid in item.notifications})
    found = set((await session.scalars(_KNOWN, {"nids": wanted})).all()) if wanted else set()
    missing = [sorted(set(item.notifications) - found) for item in items]
    rows = sorted(
        (row for item, lacking in zip(items, missing, strict=True) if not lacking for row in item.rows),
        key=lambda row: (row["notification_id"], row["step"]),
    )
    added = Counter(await inserted_keys(session, EscalationTimerRecord, rows, returning="notification_id"))
    return [
        ItemFailed(UnknownNotifications(lacking))
        if lacking
        else sum(added[nid] for nid in {row["notification_id"] for row in item.rows})
        for item, lacking in zip(items, missing, strict=True)
    ]


async def claim_due_timer(session: AsyncSession, now: datetime) -> EscalationTimerRecord | None:
    """The oldest due, unfired, uncancelled timer, locked for this transaction (others skip it)."""
    return await session.scalar(
        select(EscalationTimerRecord)
        .where(
            EscalationTimerRecord.due_at <= now,
            EscalationTimerRecord.fired_at.is_(None),
            EscalationTimerRecord.cancelled_at.is_(None),
        )
        .order_by(EscalationTimerRecord.due_at, EscalationTimerRecord.step)
        .limit(1)
        .with_for_update(skip_locked=True)
    )


async def next_due_at(session: AsyncSession) -> datetime | None:
    """When the soonest timer still to fire is due (the firer sleeps until then)."""
    return await session.scalar(
        select(func.min(EscalationTimerRecord.due_at)).where(
            EscalationTimerRecord.fired_at.is_(None), EscalationTimerRecord.cancelled_at.is_(None)
        )
    )


_CANCEL_PENDING = (
    update(table_of(EscalationTimerRecord))
    .where(_T.notification_id == bindparam("nid"), _T.fired_at.is_(None), _T.cancelled_at.is_(None))
    .values(cancelled_at=bindparam("cancel_at"))
)


_PENDING_OF = (
    select(_T.notification_id)
    .where(_T.notification_id.in_(bindparam("nids", expanding=True)), _T.fired_at.is_(None), _T.cancelled_at.is_(None))
    .with_for_update()
)


async def cancel_pending_many(session: AsyncSession, cancel_at: dict[str, datetime]) -> dict[str, int]:
    """Acknowledgements stop their chains: every unfired timer of each notification is cancelled at that
    notification's time. The timers are locked first (a firing escalator skips locked rows), so the count each
    notification's audit records is exact. Returns how many were cancelled per notification."""
    if len(cancel_at) == 1:  # one statement: its row count is the notification's
        [(nid, at)] = cancel_at.items()
        result = await session.execute(_CANCEL_PENDING, {"nid": nid, "cancel_at": at})
        return {nid: int(getattr(result, "rowcount", 0) or 0)}
    pending = list((await session.scalars(_PENDING_OF, {"nids": sorted(cancel_at)})).all())
    counts = Counter(pending)
    if counts:
        await session.execute(_CANCEL_PENDING, [{"nid": nid, "cancel_at": cancel_at[nid]} for nid in counts])
    return dict(counts)


async def record_escalation_notification(
    sessions: async_sessionmaker[AsyncSession], row: dict[str, Any], audit: AuditEntry
) -> None:
    """Committed before the notification is published, so the notifier always finds its row."""
    async with sessions.begin() as session:
        await insert_ignore(session, NotificationRecord, [row])
        await add_audit(session, audit)


async def timers_for(sessions: async_sessionmaker[AsyncSession], notification_id: str) -> list[EscalationTimerRecord]:
    async with sessions() as session:
        rows = await session.scalars(
            select(EscalationTimerRecord)
            .where(EscalationTimerRecord.notification_id == notification_id)
            .order_by(EscalationTimerRecord.step)
        )
        return list(rows)
