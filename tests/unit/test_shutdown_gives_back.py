"""A notifier shutting down while a retry waits for its tier gives the message back instead of holding up
the shutdown (a late tier waits 30 minutes) or committing work it never did."""

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import structlog

from services.notifier.handler import _wait_until
from shared import consuming
from shared.consuming import Abandoned, ReliableHandler
from shared.topics import DEAD_LETTERS


@dataclass
class Record:
    topic: str = "notifications.police.retry-30s.v1"
    partition: int = 0
    offset: int = 7
    key: bytes = b"ntf_1"


@dataclass
class RecordingBroker:
    published: list[str] = field(default_factory=list)

    async def publish(self, _: bytes, topic: str, **__: Any) -> None:
        self.published.append(topic)


@dataclass
class FakeMessage:
    body: bytes = b"{}"
    raw_message: Record = field(default_factory=Record)
    calls: list[str] = field(default_factory=list)

    async def ack(self) -> None:
        self.calls.append("ack")

    async def nack(self) -> None:
        self.calls.append("nack")


async def test_a_wait_for_a_retry_tier_ends_with_abandoned_when_shutdown_begins() -> None:
    stopping = asyncio.Event()
    due = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    waiting = asyncio.create_task(_wait_until(due, stopping))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    stopping.set()
    with pytest.raises(Abandoned):
        await asyncio.wait_for(waiting, timeout=5)  # a guard against hanging, not a timing claim


async def test_a_wait_whose_time_has_come_returns_even_while_stopping() -> None:
    stopping = asyncio.Event()
    stopping.set()
    past = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    await _wait_until(past, stopping)
    await _wait_until(None, stopping)


async def test_an_abandoned_message_is_sought_back_never_committed_nor_dead_lettered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def give_back(_: Any) -> None:
        raise Abandoned("shutting down")

    async def fail(_: Any) -> None:
        raise RuntimeError("a real failure")

    broker = RecordingBroker()
    msg = FakeMessage()
    with structlog.testing.capture_logs() as logs:
        monkeypatch.setattr(consuming, "log", structlog.get_logger())  # not a logger cached by another test
        await ReliableHandler(broker, give_back, max_attempts=1)(msg)  # type: ignore[arg-type]
    assert msg.calls == ["nack"] and broker.published == []
    assert [entry["event"] for entry in logs] == ["message_given_back_at_shutdown"]
    failed = FakeMessage()  # the contrast: a failure on its last attempt is dead-lettered and committed
    with structlog.testing.capture_logs():
        await ReliableHandler(broker, fail, max_attempts=1)(failed)  # type: ignore[arg-type]
    assert failed.calls == ["ack"] and broker.published == [DEAD_LETTERS]
