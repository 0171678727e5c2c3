"""A dead idempotent producer is replaced, not left to fail every publish until the service restarts.

aiokafka's idempotent producer stops for good when the broker answers OutOfOrderSequenceNumber (a broker that
lost its producer state, e.g. after being killed) or ProducerFenced: its sender task ends and every later send
raises the same error. The Java client resets its producer id and goes on (KIP-360); aiokafka does not. Seen in
the fault suite: after a broker SIGKILL the acknowledgement service refused every acknowledgement for minutes.

The publish that met the dead producer still fails (its caller's own retry takes over: intake answers 503, a
handler seeks back, a recipient's acknowledgement gets a 5xx and is retried); the producer is replaced with a
new one (a new producer id) before the error reaches the caller, so the retry goes through. Replacing is safe
for at-least-once: every record carries an idempotency key, so a record written twice is harmless.
"""

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import aiokafka
import structlog
from aiokafka.errors import OutOfOrderSequenceNumber, ProducerFenced
from faststream import BaseMiddleware
from faststream.kafka import KafkaBroker

log = structlog.get_logger(__name__)

FATAL_PRODUCER_ERRORS = (OutOfOrderSequenceNumber, ProducerFenced)


class ProducerRecovery:
    """Owns the replacement of one broker's producer; a FastStream middleware calls it when a publish fails."""

    def __init__(self) -> None:
        self.broker: KafkaBroker | None = None
        self.replacements = 0
        self._lock = asyncio.Lock()

    def current(self) -> object | None:
        """The aiokafka producer publishing right now (FastStream keeps it in its producer wrapper)."""
        if self.broker is None:
            return None
        state = getattr(self.broker.config.producer, "_producer", None)
        return getattr(state, "producer", None)

    async def replace(self, dead: object | None, error: BaseException) -> None:
        """Replace ``dead`` once, however many publishes failed on it at the same time."""
        if self.broker is None:
            return
        async with self._lock:
            if dead is None or self.current() is not dead:
                return  # already replaced by a concurrent publish
            wrapper: Any = self.broker.config.producer
            serializer, codec = wrapper.serializer, wrapper.codec
            with contextlib.suppress(Exception):  # stopping a dead producer may re-raise its error
                await wrapper.disconnect()
            connection_kwargs: dict[str, Any] = self.broker._connection_kwargs
            await wrapper.connect(aiokafka.AIOKafkaProducer(**connection_kwargs), serializer=serializer, codec=codec)
            self.replacements += 1
            log.warning("kafka_producer_replaced", error_type=type(error).__name__, replacements=self.replacements)

    def middleware(self) -> Callable[..., BaseMiddleware]:
        """A FastStream middleware factory bound to this recovery."""
        recovery = self

        class ReplaceDeadProducer(BaseMiddleware):
            async def publish_scope(self, call_next: Callable[[Any], Awaitable[Any]], cmd: Any) -> Any:
                producer = recovery.current()
                try:
                    return await call_next(cmd)
                except FATAL_PRODUCER_ERRORS as exc:
                    await recovery.replace(producer, exc)
                    raise

        return ReplaceDeadProducer
