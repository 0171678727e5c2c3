"""Durable escalation timers: scheduled idempotently, claimed with row locks, fired or cancelled once.

A timer row is created per (notification, step) when a routing decision is seen; the escalator claims due
rows with SELECT ... FOR UPDATE SKIP LOCKED (PostgreSQL; SQLite has a single writer and ignores it), so
several escalator instances never fire the same step at once, and a crashed one leaves its rows due.
"""

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.audit_trail import AuditEntry, add_audit
from shared.store.models import EscalationTimerRecord, NotificationRecord, table_of
from shared.store.upsert import insert_ignore

DEADLINE_STEP = 99
"""The step number of the timer that records a missed deadline (escalation steps are 0..98)."""


class UnknownNotifications(Exception):
    """Timers were asked for notifications this store does not hold (nothing was written)."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"{len(missing)} notification(s) not in the store")
        self.missing = missing


async def schedule_timers(
    sessions: async_sessionmaker[AsyncSession], rows: list[dict[str, Any]], for_notifications: Sequence[str] = ()
) -> int:
    """Insert timers that do not exist yet; a replayed routing decision adds nothing. Returns rows added.

    With `for_notifications`, the same transaction first checks that the store holds every one of them
    (UnknownNotifications otherwise): one round of the database per routing decision, not two."""
    async with sessions.begin() as session:
        if for_notifications:
            found = set(
                await session.scalars(
                    select(NotificationRecord.notification_id).where(
                        NotificationRecord.notification_id.in_(list(for_notifications))
                    )
                )
            )
            if missing := sorted(set(for_notifications) - found):
                raise UnknownNotifications(missing)
        return await insert_ignore(session, EscalationTimerRecord, rows) if rows else 0


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


_T = table_of(EscalationTimerRecord).c
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
