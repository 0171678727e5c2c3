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
from shared.store.audit_trail import AuditEntry, add_audit
from shared.store.engine import readers
from shared.store.escalations import cancel_pending
from shared.store.models import AcknowledgementRecord, AuditEventRecord, NotificationRecord, table_of
from shared.store.upsert import insert_ignore


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
_KEY_SEEN = select(_AUDIT.id).where(_AUDIT.dedupe_key == bindparam("key"))
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


async def notification_and_replay(
    sessions: async_sessionmaker[AsyncSession], notification_id: str, webhook_id: str
) -> tuple[AckTarget | None, bool]:
    """What an acknowledgement needs to know before it publishes, in one session (one pooled connection):
    the notification, and whether this webhook-id was already used."""
    async with readers(sessions)() as session:
        target = await ack_target(session, notification_id)
        if target is None:
            return None, False
        seen = (await session.execute(_KEY_SEEN, {"key": webhook_key(webhook_id)})).first() is not None
        return target, seen


async def find_target(sessions: async_sessionmaker[AsyncSession], notification_id: str) -> AckTarget | None:
    async with readers(sessions)() as session:
        return await ack_target(session, notification_id)


class _Replay(Exception):
    pass


async def record_ack(sessions: async_sessionmaker[AsyncSession], ack: AckInput) -> AckOutcome:
    try:
        async with sessions.begin() as session:
            return await _record(session, ack)
    except _Replay:
        return AckOutcome.REPLAYED


async def _record(session: AsyncSession, ack: AckInput) -> AckOutcome:
    created = bool(
        await insert_ignore(
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
            ],
        )
    )
    event = "acknowledged" if created else "ack_repeated"
    claim = AuditEntry(
        occurred_at=ack.at,
        event=event,
        actor=ack.acknowledged_by,
        dedupe_key=webhook_key(ack.webhook_id),
        report_id=ack.report_id,
        notification_id=ack.notification_id,
        agency_id=ack.agency_id,
        detail=f"via {ack.channel}" + ("" if created else "; nothing changed"),
    )
    if not await add_audit(session, claim):
        raise _Replay  # the transaction rolls back: nothing of this request is kept
    if not created:
        return AckOutcome.ALREADY_ACKNOWLEDGED
    await session.execute(_ACKNOWLEDGE, {"nid": ack.notification_id, "ack_at": ack.at})
    cancelled = await cancel_pending(session, ack.notification_id, ack.at)
    in_time = ack.at <= ack.deadline_at
    await add_audit(
        session,
        AuditEntry(
            occurred_at=ack.at,
            event="deadline_met" if in_time else "deadline_missed",
            actor="acks",
            dedupe_key=deadline_key(ack.notification_id),
            report_id=ack.report_id,
            notification_id=ack.notification_id,
            agency_id=ack.agency_id,
            detail=f"acknowledged {'before' if in_time else 'after'} deadline {ack.deadline_at.isoformat()}; "
            f"{cancelled} pending escalation(s) cancelled",
        ),
    )
    return AckOutcome.RECORDED
