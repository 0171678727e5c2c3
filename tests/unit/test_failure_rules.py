"""What happens to a record that cannot be handled (shared/consuming.py), without a broker: poison and
persistent handler errors are dead-lettered with their reason and without their contents; transient trouble is
retried in place; a shutdown while a retry waits gives the record back instead of finishing it."""

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy.exc import DataError, OperationalError

from shared import consuming
from shared.consuming import PoisonMessage, is_transient, reliably, wait_or_give_back
from shared.stream.engine import GiveBack

SECRET_TEXT = b'{"child": {"first_name": "Avery-Secret"}}'


def record(value: bytes = SECRET_TEXT, offset: int = 7) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord("careline.reports.v1", 2, offset, 0, 0, b"CL-1", value, None, 4, len(value), ())


@dataclass
class RecordingBroker:
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, **_: Any) -> None:
        self.published.append((topic, json.loads(body)))


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(consuming, "backoff_seconds", lambda attempt: 0.0)


async def test_a_wait_before_a_retry_ends_with_give_back_when_shutdown_begins() -> None:
    stopping = asyncio.Event()
    waiting = asyncio.create_task(wait_or_give_back(1800, stopping))
    await asyncio.sleep(0.01)
    stopping.set()
    with pytest.raises(GiveBack):
        await asyncio.wait_for(waiting, 1)


async def test_a_wait_before_a_retry_returns_when_it_is_over() -> None:
    await asyncio.wait_for(wait_or_give_back(0.01, asyncio.Event()), 1)


async def test_poison_is_dead_lettered_once_with_its_reason_and_without_its_contents() -> None:
    broker = RecordingBroker()

    async def handle(_: ConsumerRecord[bytes, bytes]) -> None:
        raise PoisonMessage("schema_invalid", "child.date_of_birth: Field required")

    await reliably(handle, broker, "pipeline.deadletter.v1", asyncio.Event())(record())  # type: ignore[arg-type]
    [(topic, letter)] = broker.published
    assert topic == "pipeline.deadletter.v1"
    assert letter["reason"] == "schema_invalid" and letter["source_offset"] == 7 and letter["attempts"] == 1
    assert letter["original_sha256"] and letter.get("original_value_b64") is None
    assert "Avery-Secret" not in json.dumps(letter)


async def test_a_database_refusing_the_data_is_dead_lettered_after_bounded_tries_not_retried_forever() -> None:
    broker, calls = RecordingBroker(), []

    async def handle(_: ConsumerRecord[bytes, bytes]) -> None:
        calls.append(1)
        raise DataError("INSERT ...", {}, Exception("value too long for type character varying(300)"))

    await reliably(handle, broker, "dlq", asyncio.Event(), max_attempts=3)(record())  # type: ignore[arg-type]
    assert len(calls) == 3
    [(_, letter)] = broker.published
    assert letter["reason"] == "handler_error" and letter["attempts"] == 3
    assert "too long" not in letter["detail"]  # the exception's text may carry input: only its type is kept


async def test_transient_trouble_is_retried_in_place_until_it_passes() -> None:
    broker, calls = RecordingBroker(), []

    async def handle(_: ConsumerRecord[bytes, bytes]) -> None:
        calls.append(1)
        if len(calls) < 6:
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError())

    await reliably(handle, broker, "dlq", asyncio.Event(), max_attempts=3)(record())  # type: ignore[arg-type]
    assert len(calls) == 6 and broker.published == []


async def test_a_shutdown_during_transient_trouble_gives_the_record_back_unfinished() -> None:
    broker, stopping = RecordingBroker(), asyncio.Event()
    stopping.set()

    async def handle(_: ConsumerRecord[bytes, bytes]) -> None:
        raise OperationalError("SELECT 1", {}, ConnectionRefusedError())

    with pytest.raises(GiveBack):
        await reliably(handle, broker, "dlq", stopping)(record())  # type: ignore[arg-type]
    assert broker.published == []


@pytest.mark.parametrize(
    ("error", "transient"),
    [
        (OperationalError("x", {}, Exception()), True),
        (ConnectionRefusedError(), True),
        (TimeoutError(), True),
        (DataError("x", {}, Exception()), False),
        (ValueError("x"), False),
    ],
)
def test_transient_or_not(error: Exception, transient: bool) -> None:
    assert is_transient(error) is transient
