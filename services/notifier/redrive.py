"""Ops command: list dead-lettered notifications and send them again.

    python -m services.notifier.redrive list
    python -m services.notifier.redrive redrive --notification ntf_...   (one)
    python -m services.notifier.redrive redrive --agency pd-hartford     (one agency's)
    python -m services.notifier.redrive redrive --all
    python -m services.notifier.redrive enable-endpoint --agency pd-hartford   (after a 410 disabled it)

It reads the dead-letter topic from the start, keeps the letters whose notification is still dead-lettered
in the database, and re-publishes the original notification with a `redrive` header. The notifier skips
anything already delivered, so a redrive never duplicates a recorded delivery.
"""

import argparse
import asyncio
import base64
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from aiokafka import AIOKafkaConsumer, TopicPartition

from services.notifier.handler import REDRIVE_HEADER
from shared.events import DeadLetter, Notification
from shared.kafka import admin_client_kwargs, make_broker
from shared.publishing import publish_notification
from shared.settings import DatabaseSettings, KafkaSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store
from shared.topics import NOTIFICATION_DEAD_LETTERS


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


async def enable_endpoint(agency_id: str, by: str) -> int:
    engine = make_engine(DatabaseSettings().database_url)
    try:
        store = Store(make_session_factory(engine))
        if not await store.endpoint_disabled(agency_id):
            print(f"endpoint of {agency_id} is not disabled")
            return 0
        await store.set_endpoint_disabled(agency_id, False, reason=None, by=by, at=datetime.now(UTC))
    finally:
        await engine.dispose()
    print(f"endpoint of {agency_id} enabled; redrive its dead letters to deliver them")
    return 0


async def run(args: argparse.Namespace) -> int:
    if args.command == "enable-endpoint":
        return await enable_endpoint(args.agency, args.by)
    kafka = KafkaSettings()
    engine = make_engine(DatabaseSettings().database_url)
    try:
        dead = await still_dead(Store(make_session_factory(engine)), await read_dead_letters(kafka))
    finally:
        await engine.dispose()
    if args.command == "list":
        print(f"{len(dead)} dead-lettered notification(s)")
        for d in dead:
            n = d.notification
            print(
                f"{n.notification_id}  {n.recipient_kind.value:7} {n.agency_id:24} report {n.report_id}  "
                f"{d.letter.reason}  {d.letter.failed_at:%Y-%m-%d %H:%M:%S}Z"
            )
        return 0
    chosen = [
        d
        for d in dead
        if args.all or d.notification.notification_id == args.notification or d.notification.agency_id == args.agency
    ]
    if not chosen:
        print("nothing to redrive")
        return 1 if args.notification else 0
    count = await redrive(kafka, chosen)
    print(f"redriven {count} notification(s)")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list notifications that are dead-lettered now")
    again = sub.add_parser("redrive", help="send dead-lettered notifications again")
    which = again.add_mutually_exclusive_group(required=True)
    which.add_argument("--notification", help="one notification id")
    which.add_argument("--agency", help="every dead-lettered notification of one agency")
    which.add_argument("--all", action="store_true", help="every dead-lettered notification")
    enable = sub.add_parser("enable-endpoint", help="re-enable an endpoint disabled after 410 Gone")
    enable.add_argument("--agency", required=True)
    enable.add_argument("--by", default=os.environ.get("USER", "ops"), help="who re-enables it (audit)")
    return asyncio.run(run(parser.parse_args(argv)))


if __name__ == "__main__":
    sys.exit(main())
