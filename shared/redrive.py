"""Dead-lettered notifications: which are still dead, and sending them again. The ops CLI
(`python -m services.notifier.redrive`) and the ops dashboard both call this, so they behave the same.

The dead-letter topic is read from the start; a letter counts while the database still says its notification is
dead-lettered; a redrive re-publishes the original notification with the `redrive` header. The notifier skips
anything already delivered, so a redrive never duplicates a recorded delivery.
"""

import base64
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from shared.envelope import open_value
from shared.events import DeadLetter, Notification
from shared.kafka import admin_client_kwargs, make_broker
from shared.publishing import publish_notification
from shared.settings import KafkaSettings
from shared.states import NotificationState
from shared.store.repository import Store
from shared.topics import NOTIFICATION_DEAD_LETTERS

REDRIVE_HEADER = "redrive"


@dataclass(frozen=True)
class DeadNotification:
    letter: DeadLetter
    notification: Notification


async def read_dead_letters(kafka: KafkaSettings) -> list[DeadLetter]:
    """Everything on the dead-letter topic up to its current end (no consumer group, nothing committed)."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        client_id=f"redrive-{uuid.uuid4().hex[:6]}",
        **admin_client_kwargs(kafka),
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(NOTIFICATION_DEAD_LETTERS, p)
            for p in consumer.partitions_for_topic(NOTIFICATION_DEAD_LETTERS) or {0}
        ]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        letters: list[DeadLetter] = []
        while [tp for tp in partitions if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for records in batch.values():
                letters.extend(DeadLetter.model_validate_json(r.value) for r in records if r.value)
        return letters
    finally:
        await consumer.stop()


async def still_dead(
    store: Store, letters: list[DeadLetter], kafka: KafkaSettings | None = None
) -> list[DeadNotification]:
    """Latest letter per notification, kept only while the database still says dead_lettered, with the original
    notification read back from where the letter points (letters copy no contents; older ones may)."""
    latest: dict[str, DeadLetter] = {}
    for letter in letters:
        if letter.notification_id and (letter.original_value_b64 or letter.source_offset is not None):
            latest[letter.notification_id] = letter
    dead = [
        letter
        for nid, letter in latest.items()
        if await store.notification_state(nid) == NotificationState.DEAD_LETTERED
    ]
    originals = await read_originals(kafka or KafkaSettings(), [d for d in dead if not d.original_value_b64])
    found = []
    for letter in dead:
        body = base64.b64decode(letter.original_value_b64) if letter.original_value_b64 else originals.get(_at(letter))
        if body is not None:
            found.append(DeadNotification(letter, Notification.model_validate_json(open_value(body))))
    return sorted(found, key=lambda d: d.letter.failed_at)


def _at(letter: DeadLetter) -> tuple[str, int, int]:
    return letter.source_topic, letter.source_partition or 0, letter.source_offset or 0


async def read_originals(kafka: KafkaSettings, letters: list[DeadLetter]) -> dict[tuple[str, int, int], bytes]:
    """The records the letters point to, each read by its topic, partition and offset (no group, no commit)."""
    if not letters:
        return {}
    wanted = {_at(letter) for letter in letters}
    consumer = AIOKafkaConsumer(
        bootstrap_servers=kafka.bootstrap_servers,
        enable_auto_commit=False,
        client_id=f"redrive-{uuid.uuid4().hex[:6]}",
        **admin_client_kwargs(kafka),
    )
    await consumer.start()
    found: dict[tuple[str, int, int], bytes] = {}
    try:
        for topic, partition, offset in sorted(wanted):
            tp = TopicPartition(topic, partition)
            consumer.assign([tp])
            consumer.seek(tp, offset)
            batch = await consumer.getmany(tp, timeout_ms=5000, max_records=1)
            for record in batch.get(tp, []):
                if record.offset == offset and record.value is not None:
                    found[(topic, partition, offset)] = record.value
    finally:
        await consumer.stop()
    return found


async def redrive(kafka: KafkaSettings, items: list[DeadNotification]) -> int:
    broker = make_broker("redrive", kafka)
    await broker.connect()
    try:
        for item in items:
            await publish_notification(broker, item.notification, {REDRIVE_HEADER: "true"})
    finally:
        await broker.stop()
    return len(items)
