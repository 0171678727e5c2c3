"""What happens to a record that cannot be handled, for every consumer (shared/stream/engine.py runs them).

Every record ends in exactly one of three ways: its work is durable (the engine may then commit past it); it is
poison (not JSON, wrong schema, too large, or a handler error that a few tries did not cure) and goes to the
dead-letter topic with the reason; or something transient failed (the database or Kafka is away) and it is
tried again in place, with capped, jittered backoff, for as long as it takes. Retrying in place holds back only
the record's own key (its lane); a shutdown meanwhile gives the record back uncommitted.

Dead letters carry the reason, the original's position, size and hash, never its contents: the original stays
on its topic (retained as long as the database keeps its rows), so nothing personal is copied.
"""

import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError
from faststream.kafka import KafkaBroker
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DataError, IntegrityError, NotSupportedError, ProgrammingError, SQLAlchemyError

from shared.database_outage import refused_by_database
from shared.events.deadletter import DeadLetter
from shared.http import BrokerConnection
from shared.kafka import consumer_kwargs
from shared.publishing import publish_event
from shared.stream.engine import ConsumerOptions, GiveBack, RecordHandler, StreamConsumer
from shared.telemetry import traced
from shared.topics import DEAD_LETTERS

log = structlog.get_logger(__name__)

EventT = TypeVar("EventT", bound=BaseModel)

MAX_MESSAGE_BYTES = 1_000_000
MAX_HANDLER_ATTEMPTS = 3


class PoisonMessage(Exception):
    """The message itself is bad (not JSON, wrong schema, too large): retrying cannot help."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


# A database that refuses the data itself (too long, constraint, bad SQL) will refuse it again: bounded, then poison.
_REFUSED_BY_DATABASE = (DataError, IntegrityError, ProgrammingError, NotSupportedError)


def is_transient(exc: BaseException) -> bool:
    """Trouble that goes away by itself: the database or Kafka unreachable, a timeout, a dropped connection."""
    if isinstance(exc, _REFUSED_BY_DATABASE) or refused_by_database(exc):  # by class, or PostgreSQL's SQLSTATE
        return False
    return isinstance(exc, SQLAlchemyError | KafkaError | ConnectionError | TimeoutError | OSError)


def backoff_seconds(attempt: int, first: float = 0.5, cap: float = 10.0) -> float:
    """Exponential with full jitter in its upper half, so many failing records do not retry in step."""
    return float(min(cap, first * 2 ** (attempt - 1)) * (0.5 + random.random() / 2))


def parse_event(model: type[EventT], body: bytes) -> EventT:
    """Decode and validate one event; anything that is not a valid event of this schema is poison."""
    try:
        data = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise PoisonMessage("invalid_json", f"not JSON ({type(exc).__name__})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise PoisonMessage("schema_invalid", problems[:1000]) from exc


def dead_letter_for(record: ConsumerRecord[bytes, bytes], reason: str, detail: str, attempts: int) -> DeadLetter:
    body = record.value or b""
    return DeadLetter(
        source_topic=record.topic,
        source_partition=record.partition,
        source_offset=record.offset,
        key=record.key.decode(errors="replace") if record.key else None,
        reason=reason,
        detail=f"{detail} (original: {len(body)} bytes)",
        failed_at=datetime.now(UTC),
        attempts=attempts,
        original_sha256=hashlib.sha256(body).hexdigest(),
    )


async def wait_or_give_back(seconds: float, stopping: asyncio.Event) -> None:
    """Sleep before a retry; if the service starts stopping meanwhile, give the record back."""
    if stopping.is_set():
        raise GiveBack()
    try:
        await asyncio.wait_for(stopping.wait(), timeout=seconds)
    except TimeoutError:
        return
    raise GiveBack()


def reliably(
    handle: Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]],
    broker: KafkaBroker,
    dead_letter_topic: str,
    stopping: asyncio.Event,
    *,
    max_attempts: int = MAX_HANDLER_ATTEMPTS,
) -> RecordHandler:
    """Wrap a record handler with the rules in the module docstring."""

    async def dead_letter(record: ConsumerRecord[bytes, bytes], reason: str, detail: str, attempts: int) -> None:
        letter = dead_letter_for(record, reason, detail, attempts)
        tries = 0
        while True:
            try:
                await publish_event(broker, letter, dead_letter_topic, letter.key or "")
                break
            except Exception as exc:
                tries += 1
                log.error("dead_letter_publish_failed", topic=record.topic, error_type=type(exc).__name__)
                await wait_or_give_back(backoff_seconds(tries), stopping)
        log.warning("message_dead_lettered", topic=record.topic, partition=record.partition, offset=record.offset,
                    reason=reason, attempts=attempts)  # fmt: skip

    async def run(record: ConsumerRecord[bytes, bytes]) -> None:
        failures = 0
        while True:
            try:
                if len(record.value or b"") > MAX_MESSAGE_BYTES:
                    raise PoisonMessage("oversized", f"{len(record.value or b'')} bytes > {MAX_MESSAGE_BYTES}")
                await handle(record)
                return
            except GiveBack:
                raise
            except PoisonMessage as poison:
                await dead_letter(record, poison.reason, poison.detail, failures + 1)
                return
            except Exception as exc:
                failures += 1
                transient = is_transient(exc)
                if not transient and failures >= max_attempts:
                    log.error("handler_failed_dead_lettering", topic=record.topic, partition=record.partition,
                              offset=record.offset, attempts=failures, error_type=type(exc).__name__)  # fmt: skip
                    await dead_letter(record, "handler_error", type(exc).__name__, failures)
                    return
                delay = backoff_seconds(failures)
                log.warning("handler_failed_will_retry", topic=record.topic, partition=record.partition,
                            offset=record.offset, attempts=failures, transient=transient,
                            error_type=type(exc).__name__, retry_in_seconds=round(delay, 2))  # fmt: skip
                await wait_or_give_back(delay, stopping)

    return run


def consume(
    connection: BrokerConnection,
    topics: Sequence[str],
    group_id: str,
    handle: Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]],
    *,
    dead_letter_topic: str = DEAD_LETTERS,
    options: ConsumerOptions | None = None,
) -> StreamConsumer:
    """One visible place per service for what it reads: its topics, its group, where its poison goes."""
    consumer = StreamConsumer(
        group_id,
        topics,
        group_id,
        traced(reliably(handle, connection.broker, dead_letter_topic, connection.stopping), group_id),
        consumer_kwargs(group_id),
        options,
    )
    return connection.add_consumer(consumer)
