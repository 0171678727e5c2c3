"""Recording an acknowledgement: one transaction for the ack, its webhook-id, the audit, the clocks, the timers.

The webhook-id is claimed through the audit table's unique dedupe key, so a replayed request (same
webhook-id) is recognised even after the notification was acknowledged, and the claim rolls back with
everything else if the write fails (the sender's retry then still works).
"""

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.states import NotificationState
from shared.store.audit_trail import AuditEntry, add_audits
from shared.store.batching import ItemFailed, together_or_alone
from shared.store.engine import autocommit_sessions
from shared.store.escalations import cancel_pending_many
from shared.store.models import AcknowledgementRecord, AuditEventRecord, NotificationRecord, table_of
from shared.store.upsert import inserted_keys


class AckOutcome(StrEnum):
    RECORDED = "recorded"
    ALREADY_ACKNOWLEDGED = "already_acknowledged"
    REPLAYED = "replayed"


@dataclass(frozen=True)
class AckInput:
    notification_id: str
    report_id: str
    agency_id: str
    acknowledged_by: str
    note: str | None
    webhook_id: str
    at: datetime
    deadline_at: datetime
    channel: str  # "webhook" or "one-click link"


def webhook_key(webhook_id: str) -> str:
    return f"ack-webhook:{webhook_id}"


def deadline_key(notification_id: str) -> str:
    """One key for met and missed: a notification's deadline is decided once."""
    return f"deadline:{notification_id}"


@dataclass(frozen=True)
class AckTarget:
    """What acknowledging needs of a notification (read with one cached Core statement, no ORM object)."""

    notification_id: str
    report_id: str
    agency_id: str
    recipient_kind: str
    created_at: datetime
    deadline_at: datetime
    acknowledged_at: datetime | None


_N = table_of(NotificationRecord).c
_AUDIT = table_of(AuditEventRecord).c
_TARGET = select(
    _N.notification_id, _N.report_id, _N.agency_id, _N.recipient_kind, _N.created_at, _N.deadline_at,
    _N.acknowledged_at,
).where(_N.notification_id == bindparam("nid"))  # fmt: skip
_TARGETS = select(*_TARGET.selected_columns).where(_N.notification_id.in_(bindparam("nids", expanding=True)))
_KEYS_SEEN = select(_AUDIT.dedupe_key).where(_AUDIT.dedupe_key.in_(bindparam("keys", expanding=True)))
_ACKNOWLEDGE = (
    update(table_of(NotificationRecord))
    .where(_N.notification_id == bindparam("nid"))
    # An acknowledgement proves receipt: if the notifier died between the recipient's 2xx and
    # recording it, the delivery time is at the latest the acknowledgement's.
    .values(
        state=NotificationState.ACKNOWLEDGED.value,
        acknowledged_at=bindparam("ack_at"),
        delivered_at=func.coalesce(_N.delivered_at, bindparam("ack_at")),
    )
)


async def ack_target(session: AsyncSession, notification_id: str) -> AckTarget | None:
    row = (await session.execute(_TARGET, {"nid": notification_id})).first()
    return AckTarget(*row) if row is not None else None


async def notifications_and_replays(
    sessions: async_sessionmaker[AsyncSession], asked: list[tuple[str, str]]
) -> list[tuple[AckTarget | None, bool]]:
    """What each acknowledgement (`(notification_id, webhook_id)`) needs to know before it publishes: the
    notification, and whether this webhook-id was already used. Two queries in one pooled connection, however
    many were asked."""
    async with autocommit_sessions(sessions)() as session:
        nids = sorted({nid for nid, _ in asked})
        targets = {row[0]: AckTarget(*row) for row in await session.execute(_TARGETS, {"nids": nids})}
        keys = sorted({webhook_key(wid) for nid, wid in asked if nid in targets})
        seen = set((await session.scalars(_KEYS_SEEN, {"keys": keys})).all()) if keys else set()
    return [(targets[nid], webhook_key(wid) in seen) if nid in targets else (None, False) for nid, wid in asked]


async def find_target(sessions: async_sessionmaker[AsyncSession], notification_id: str) -> AckTarget | None:
    async with autocommit_sessions(sessions)() as session:
        return await ack_target(session, notification_id)


class _Replay(Exception):
    pass


class _NotAlone(Exception):
    """A batch where one acknowledgement's outcome depends on another's: recorded one by one instead."""


async def record_ack(sessions: async_sessionmaker[AsyncSession], ack: AckInput) -> AckOutcome:
    try:
        async with sessions.begin() as session:
            return (await _record(session, [ack]))[0]
    except _Replay:
        return AckOutcome.REPLAYED


async def record_acks(
    sessions: async_sessionmaker[AsyncSession], acks: list[AckInput]
) -> list[AckOutcome | ItemFailed]:
    """Many acknowledgements in one transaction and a handful of statements (group commit: whatever arrived
    while the last batch was written). Each one's outcome is what it would be alone: a batch where two
    acknowledgements touch the same notification or webhook-id, or where a replay would need part of the
    transaction undone, is recorded one acknowledgement per transaction."""
    return await together_or_alone(
        acks, lambda batch: _in_one_transaction(sessions, batch), lambda ack: record_ack(sessions, ack)
    )


async def _in_one_transaction(sessions: async_sessionmaker[AsyncSession], acks: list[AckInput]) -> list[AckOutcome]:
    if len({a.notification_id for a in acks}) < len(acks) or len({a.webhook_id for a in acks}) < len(acks):
        raise _NotAlone
    async with sessions.begin() as session:
        return await _record(session, acks)


async def _record(session: AsyncSession, acks: list[AckInput]) -> list[AckOutcome]:
    created = set(
        await inserted_keys(
            session,
            AcknowledgementRecord,
            [
                {
                    "notification_id": ack.notification_id,
                    "agency_id": ack.agency_id,
                    "acknowledged_by": ack.acknowledged_by,
                    "note": ack.note,
                    "webhook_id": ack.webhook_id,
                    "acknowledged_at": ack.at,
                }
                for ack in acks
            ],
        )
    )
    claims = [
        AuditEntry(
            occurred_at=ack.at,
            event="acknowledged" if ack.notification_id in created else "ack_repeated",
            actor=ack.acknowledged_by,
            dedupe_key=webhook_key(ack.webhook_id),
            report_id=ack.report_id,
            notification_id=ack.notification_id,
            agency_id=ack.agency_id,
            detail=f"via {ack.channel}" + ("" if ack.notification_id in created else "; nothing changed"),
        )
        for ack in acks
    ]
    claimed = await add_audits(session, claims)
    outcomes: list[AckOutcome] = []
    for ack in acks:
        if webhook_key(ack.webhook_id) in claimed:
            outcomes.append(AckOutcome.RECORDED if ack.notification_id in created else AckOutcome.ALREADY_ACKNOWLEDGED)
        elif len(acks) == 1:
            raise _Replay  # the transaction rolls back: nothing of this request is kept
        elif ack.notification_id in created:
            raise _NotAlone  # its acknowledgement row must go, and only a rollback undoes it
        else:
            outcomes.append(AckOutcome.REPLAYED)  # it wrote nothing
    recorded = [ack for ack, outcome in zip(acks, outcomes, strict=True) if outcome is AckOutcome.RECORDED]
    if not recorded:
        return outcomes
    await session.execute(_ACKNOWLEDGE, [{"nid": ack.notification_id, "ack_at": ack.at} for ack in recorded])
    cancelled = await cancel_pending_many(session, {ack.notification_id: ack.at for ack in recorded})
    await add_audits(
        session,
        [
            AuditEntry(
                occurred_at=ack.at,
                event="deadline_met" if ack.at <= ack.deadline_at else "deadline_missed",
                actor="acks",
                dedupe_key=deadline_key(ack.notification_id),
                report_id=ack.report_id,
                notification_id=ack.notification_id,
                agency_id=ack.agency_id,
                detail=f"acknowledged {'before' if ack.at <= ack.deadline_at else 'after'} deadline "
                f"{ack.deadline_at.isoformat()}; {cancelled.get(ack.notification_id, 0)} pending escalation(s) "
                "cancelled",
            )
            for ack in recorded
        ],
    )
    return outcomes
