"""A producer aiokafka has given up on (OutOfOrderSequenceNumber after a broker lost its producer state) is
replaced: the publish that met it fails, its retry reaches Kafka. Without the replacement every publish fails
until the service restarts, which the fault suite saw the acknowledgement service do after a broker SIGKILL."""

import asyncio
import contextlib
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import OutOfOrderSequenceNumber
from faststream.kafka import KafkaBroker

from devtools.infra.kafka_runtime import KafkaHandle
from shared.kafka import make_broker
from shared.settings import KafkaSettings

pytestmark = pytest.mark.integration


def _aiokafka_producer(broker: KafkaBroker) -> Any:
    return broker.config.producer._producer.producer  # type: ignore[attr-defined]


async def _kill_sender_as_the_broker_would(producer: Any) -> None:
    """The end state aiokafka reaches when the broker answers OutOfOrderSequenceNumber: the sender task is done
    with that error, and its done-callback has failed the accumulator, so every later send raises it."""
    sender = producer._sender
    sender.sender_task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await sender.sender_task

    async def fatal() -> None:
        raise OutOfOrderSequenceNumber()

    died = asyncio.create_task(fatal())
    with contextlib.suppress(OutOfOrderSequenceNumber):
        await died
    sender._sender_task = died
    # aiokafka's callback fails the accumulator, then trips over the idempotent (non-transactional) transaction
    # manager with an AttributeError; in a service the event loop logs and swallows that, as here.
    with contextlib.suppress(AttributeError):
        sender._fail_all(died)


async def _values(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest")
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=5000)
        return [r.value for records in batches.values() for r in records if r.value is not None]
    finally:
        await consumer.stop()


async def _topic(bootstrap: str) -> str:
    name = f"test.producer-recovery.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()
    return name


async def test_a_dead_idempotent_producer_is_replaced_and_the_retry_reaches_kafka(kafka: KafkaHandle) -> None:
    topic = await _topic(kafka.bootstrap_servers)
    broker = make_broker("recovery-test", KafkaSettings(bootstrap_servers=kafka.bootstrap_servers))
    await broker.start()
    try:
        await broker.publish(b"before", topic, key=b"k")
        dead = _aiokafka_producer(broker)
        await _kill_sender_as_the_broker_would(dead)
        with pytest.raises(OutOfOrderSequenceNumber):
            await broker.publish(b"met the dead producer", topic, key=b"k")
        await broker.publish(b"retried", topic, key=b"k")
        assert _aiokafka_producer(broker) is not dead
    finally:
        await broker.stop()
    assert await _values(kafka.bootstrap_servers, topic) == [b"before", b"retried"]


async def test_without_the_replacement_every_publish_keeps_failing(kafka: KafkaHandle) -> None:
    """The contrast that shows why the replacement exists (and that the test above can fail)."""
    topic = await _topic(kafka.bootstrap_servers)
    broker = make_broker("no-recovery-test", KafkaSettings(bootstrap_servers=kafka.bootstrap_servers), middlewares=())
    await broker.start()
    try:
        await _kill_sender_as_the_broker_would(_aiokafka_producer(broker))
        for _ in range(3):
            with pytest.raises(OutOfOrderSequenceNumber):
                await broker.publish(b"lost", topic, key=b"k")
    finally:
        with contextlib.suppress(Exception):
            await broker.stop()
