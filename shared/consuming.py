"""At-least-once consumption on top of FastStream's MANUAL ack policy.

Every message ends in exactly one of three ways: its work is durable and its offset is committed;
it is poison and goes to the dead-letter topic (then committed); or something transient failed and
the consumer seeks back to it, so nothing after it is committed past it.
"""

import asyncio
import base64
import hashlib
import json
import random
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

import structlog
from aiokafka.errors import KafkaError
from faststream import AckPolicy
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import BaseModel, ValidationError
from sqlalchemy.exc import DBAPIError, OperationalError

from shared.events.deadletter import DeadLetter
from shared.topics import DEAD_LETTERS

log = structlog.get_logger(__name__)

EventT = TypeVar("EventT", bound=BaseModel)

MAX_MESSAGE_BYTES = 1_000_000
# The dead letter must itself fit in a Kafka record: a larger original is kept as its first bytes and hash.
MAX_DEAD_LETTER_ORIGINAL_BYTES = 256 * 1024


class Abandoned(Exception):
    """The service is shutting down before this message's work could begin: leave it uncommitted (the
    consumer seeks back to it), so whoever owns the partition next processes it."""


class PoisonMessage(Exception):
    """The message itself is bad (not JSON, wrong schema, too large): retrying cannot help."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


TRANSIENT_ERRORS: tuple[type[Exception], ...] = (
    OperationalError,
    DBAPIError,
    KafkaError,
    ConnectionError,
    TimeoutError,
    OSError,
)


class ReliableHandler:
    """Wraps a processing function with the commit, retry and dead-letter rules above."""

    def __init__(
        self,
        broker: KafkaBroker,
        process: Callable[[KafkaMessage], Awaitable[None]],
        *,
        max_attempts: int = 3,
        dead_letter_topic: str = DEAD_LETTERS,
        backoff_seconds: float = 0.5,
        max_backoff_seconds: float = 10.0,
    ) -> None:
        self._broker = broker
        self._process = process
        self._max_attempts = max_attempts
        self._dead_letter_topic = dead_letter_topic
        self._backoff = backoff_seconds
        self._max_backoff = max_backoff_seconds
        self._failures: dict[tuple[str, int, int], int] = {}

    async def __call__(self, msg: KafkaMessage) -> None:
        record = msg.raw_message
        assert not isinstance(record, tuple), "batch records are not supported here"
        position = (record.topic, record.partition, record.offset)
        try:
            if len(msg.body) > MAX_MESSAGE_BYTES:
                raise PoisonMessage("oversized", f"{len(msg.body)} bytes > {MAX_MESSAGE_BYTES}")
            await self._process(msg)
        except Abandoned:
            log.info("message_given_back_at_shutdown", topic=position[0], partition=position[1], offset=position[2])
            await msg.nack()
            return
        except PoisonMessage as poison:
            if not await self._dead_letter(msg, poison.reason, poison.detail, attempts=1):
                return
        except TRANSIENT_ERRORS as exc:
            await self._retry_later(msg, position, exc, bounded=False)
            return
        except Exception as exc:
            await self._retry_later(msg, position, exc, bounded=True)
            return
        self._failures.pop(position, None)
        await msg.ack()

    async def _retry_later(
        self, msg: KafkaMessage, position: tuple[str, int, int], exc: Exception, *, bounded: bool
    ) -> None:
        attempts = self._failures.get(position, 0) + 1
        self._failures[position] = attempts
        if bounded and attempts >= self._max_attempts:
            log.error(
                "handler_failed_dead_lettering",
                topic=position[0],
                partition=position[1],
                offset=position[2],
                attempts=attempts,
                error_type=type(exc).__name__,
            )
            if await self._dead_letter(msg, "handler_error", f"{type(exc).__name__}: {exc}"[:500], attempts):
                self._failures.pop(position, None)
                await msg.ack()
            return
        delay = min(self._max_backoff, self._backoff * 2 ** (attempts - 1)) * (0.5 + random.random() / 2)
        log.warning(
            "handler_failed_will_retry",
            topic=position[0],
            partition=position[1],
            offset=position[2],
            attempts=attempts,
            transient=not bounded,
            error_type=type(exc).__name__,
            retry_in_seconds=round(delay, 2),
        )
        await asyncio.sleep(delay)
        await msg.nack()

    async def _dead_letter(self, msg: KafkaMessage, reason: str, detail: str, attempts: int) -> bool:
        """Publishing the dead letter must succeed before the offset moves on; otherwise seek back."""
        record = msg.raw_message
        assert not isinstance(record, tuple)
        letter = DeadLetter(
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            key=record.key.decode(errors="replace") if record.key else None,
            reason=reason,
            detail=detail,
            failed_at=datetime.now(UTC),
            attempts=attempts,
            original_value_b64=base64.b64encode(msg.body[:MAX_DEAD_LETTER_ORIGINAL_BYTES]).decode(),
            original_truncated=len(msg.body) > MAX_DEAD_LETTER_ORIGINAL_BYTES,
            original_sha256=hashlib.sha256(msg.body).hexdigest(),
        )
        try:
            await self._broker.publish(
                letter.model_dump_json().encode(),
                self._dead_letter_topic,
                key=record.key,
                headers={"content-type": "application/json"},
            )
        except Exception as exc:
            log.error(
                "dead_letter_publish_failed", topic=record.topic, offset=record.offset, error_type=type(exc).__name__
            )
            await asyncio.sleep(self._backoff)
            await msg.nack()
            return False
        log.warning(
            "message_dead_lettered", topic=record.topic, partition=record.partition, offset=record.offset, reason=reason
        )
        return True


def subscribe_reliably(
    broker: KafkaBroker,
    topic: str,
    group_id: str,
    process: Callable[[KafkaMessage], Awaitable[None]],
    **options: object,
) -> ReliableHandler:
    """One visible place for the ack policy: manual commits, earliest offset for a new group."""
    handler = ReliableHandler(broker, process)

    async def consume(msg: KafkaMessage) -> None:
        await handler(msg)

    consume.__name__ = f"consume_{topic.replace('.', '_')}"
    settings: dict[str, object] = {"max_poll_interval_ms": 600_000, **options}
    broker.subscriber(  # type: ignore[call-overload]
        topic, group_id=group_id, ack_policy=AckPolicy.MANUAL, auto_offset_reset="earliest", **settings
    )(consume)
    return handler


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
