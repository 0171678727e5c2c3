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

from shared.events import DeadLetter, Notification
from shared.kafka import admin_client_kwargs, make_broker
from shared.publishing import publish_notification
from shared.settings import KafkaSettings
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


async def still_dead(store: Store, letters: list[DeadLetter]) -> list[DeadNotification]:
    """Latest letter per notification, kept only while the database still says dead_lettered."""
    latest: dict[str, DeadLetter] = {}
    for letter in letters:
        if letter.notification_id and letter.original_value_b64:
            latest[letter.notification_id] = letter
    found = []
    for notification_id, letter in latest.items():
        if await store.notification_state(notification_id) == "dead_lettered":
            original = base64.b64decode(letter.original_value_b64 or "")
            found.append(DeadNotification(letter, Notification.model_validate_json(original)))
    return sorted(found, key=lambda d: d.letter.failed_at)


async def redrive(kafka: KafkaSettings, items: list[DeadNotification]) -> int:
    broker = make_broker("redrive", kafka)
    await broker.connect()
    try:
        for item in items:
            await publish_notification(broker, item.notification, {REDRIVE_HEADER: "true"})
    finally:
        await broker.stop()
    return len(items)
