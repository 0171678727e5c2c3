"""What intake answered for each report it accepted, so a client's retry gets the same answer.

A report id (and, when the client sends one, its `Idempotency-Key`, IETF httpapi draft) is recorded with a
hash of the report's content before the report is published: a retry with the same content is answered
from here (same status and body, no second Kafka record); the same id or key with other content is a
conflict (409), never a silent second version. A row that is still `pending` belongs to a request in
flight (or one that failed and is being retried). Nothing personal is stored: ids, a hash, the answer.
"""

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import String, Text, UniqueConstraint, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from shared.store.engine import autocommit_sessions
from shared.store.models import Base, table_of
from shared.store.upsert import insert_ignore

PENDING = "pending"
ACCEPTED = "accepted"


class IntakeSubmissionRecord(Base):
    __tablename__ = "intake_submissions"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    client_id: Mapped[str] = mapped_column(String(200))
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    state: Mapped[str] = mapped_column(String(16))
    response_status: Mapped[int | None] = mapped_column(nullable=True)
    response_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime]
    __table_args__ = (UniqueConstraint("client_id", "idempotency_key", name="uq_intake_client_idempotency_key"),)


@dataclass(frozen=True)
class Claimed:
    """This request owns the report id: publish, then `complete` (or `release` when publishing failed)."""


@dataclass(frozen=True)
class Replay:
    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Conflict:
    reason: str
    in_flight: bool = False


Outcome = Claimed | Replay | Conflict


def _judge(row: IntakeSubmissionRecord, report_id: str, content_sha256: str) -> Replay | Conflict:
    if row.report_id != report_id:
        return Conflict("Idempotency-Key already used for another report")
    if row.content_sha256 != content_sha256:
        return Conflict(f"report {report_id!r} was already accepted with different content")
    if row.state != ACCEPTED or row.response_status is None or row.response_json is None:
        return Conflict(f"report {report_id!r} is being accepted by another request; retry shortly", in_flight=True)
    return Replay(row.response_status, json.loads(row.response_json))


async def claim(
    sessions: async_sessionmaker[AsyncSession],
    *,
    report_id: str,
    content_sha256: str,
    client_id: str,
    idempotency_key: str | None,
    now: datetime,
    stale_after: timedelta = timedelta(seconds=60),
) -> Outcome:
    """Claimed (publish now), Replay (answer as before) or Conflict (409). A claim older than `stale_after`
    that never got its answer belonged to a process that died; a retry with the same content takes it over.

    Each statement commits by itself (no BEGIN/COMMIT round trips): the insert decides the claim atomically (the
    primary key and the unique key refuse a second one), and the takeover is guarded by the row it read, so a
    transaction around them would add nothing."""
    async with autocommit_sessions(sessions)() as session:
        if idempotency_key is not None:
            by_key = await session.scalar(
                select(IntakeSubmissionRecord).where(
                    IntakeSubmissionRecord.client_id == client_id,
                    IntakeSubmissionRecord.idempotency_key == idempotency_key,
                )
            )
            if by_key is not None:
                return _judge(by_key, report_id, content_sha256)
        row = {
            "report_id": report_id,
            "content_sha256": content_sha256,
            "client_id": client_id,
            "idempotency_key": idempotency_key,
            "state": PENDING,
            "created_at": now,
        }
        if await insert_ignore(session, IntakeSubmissionRecord, [row]):
            return Claimed()
        existing = await session.get(IntakeSubmissionRecord, report_id)
        if existing is None:  # the key was taken by another report in a race
            return Conflict("Idempotency-Key already used for another report")
        if (
            existing.state == PENDING
            and existing.content_sha256 == content_sha256
            and existing.created_at < now - stale_after
        ):
            # The request that claimed it died between claim and answer (a crash): the retry takes over.
            taken = await session.execute(
                update(IntakeSubmissionRecord)
                .where(
                    IntakeSubmissionRecord.report_id == report_id,
                    IntakeSubmissionRecord.state == PENDING,
                    IntakeSubmissionRecord.created_at == existing.created_at,
                )
                .values(created_at=now)
            )
            if getattr(taken, "rowcount", 0):
                return Claimed()
        return _judge(existing, report_id, content_sha256)


_S = table_of(IntakeSubmissionRecord).c
_RECORD_ANSWER = (
    update(table_of(IntakeSubmissionRecord))
    .where(_S.report_id == bindparam("rid"))
    .values(state=ACCEPTED, response_status=bindparam("status"), response_json=bindparam("answer"))
)
"""A cached Core statement: the ORM's update (its session synchronisation and per-call compilation) was a quarter
of intake's CPU."""


async def complete(
    sessions: async_sessionmaker[AsyncSession],
    report_id: str,
    status: int,
    body: dict[str, Any],
    also: Callable[[AsyncSession], Awaitable[object]] | None = None,
) -> None:
    """The answer a retry will get; `also` adds the caller's own rows (intake: the audit) to this transaction."""
    async with sessions() as session, session.begin():
        await session.execute(
            _RECORD_ANSWER, {"rid": report_id, "status": status, "answer": json.dumps(body, sort_keys=True)}
        )
        if also is not None:
            await also(session)


async def release(sessions: async_sessionmaker[AsyncSession], report_id: str) -> None:
    """Publishing failed: the client was told 503 and may retry with the same report. One statement, so it
    commits by itself."""
    async with autocommit_sessions(sessions)() as session:
        await session.execute(
            delete(IntakeSubmissionRecord).where(
                IntakeSubmissionRecord.report_id == report_id, IntakeSubmissionRecord.state == PENDING
            )
        )


async def purge_before(sessions: async_sessionmaker[AsyncSession], cutoff: datetime) -> int:
    """For the retention job: rows older than the purge horizon go with the reports they answered for."""
    async with sessions() as session, session.begin():
        result = await session.execute(delete(IntakeSubmissionRecord).where(IntakeSubmissionRecord.created_at < cutoff))
        return int(getattr(result, "rowcount", 0) or 0)
