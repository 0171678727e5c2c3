"""Poison at about 1 % reaches the dead-letter topic with its reason while good reports keep flowing;
re-published (duplicate) notifications create no extra rows and no extra webhooks."""

import asyncio
import json
import random
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.runner.pipeline import Pipeline
from shared.envelope import EnvelopeError, Keyring, open_value
from shared.events import RecipientKind
from shared.topics import DEAD_LETTERS, NOTIFICATION_TOPICS, REPORTS
from tests.fault.harness import ReportStream, drain, figures
from tests.helpers import delivery_summary, eventually, pipeline_keyring

pytestmark = pytest.mark.fault


def poison_messages(marker: str) -> list[tuple[str, bytes, str]]:
    """(topic, value, expected reason) of each kind of poison, on the report and a notification topic."""
    wrong_version = {"event_type": "report.received", "event_version": 2, "report": {}}
    oversized = json.dumps({"padding": "x" * 1_000_100}).encode()
    police = NOTIFICATION_TOPICS[RecipientKind.POLICE]
    return [
        (REPORTS, b"{definitely not json", "invalid_json"),
        (REPORTS, json.dumps(wrong_version).encode(), "schema_invalid"),
        (REPORTS, oversized, "oversized"),
        (police, b"\xff\xfe not json", "invalid_json"),
        (police, json.dumps({"notification_id": marker}).encode(), "schema_invalid"),
        (police, oversized, "oversized"),
    ]


def _opened(value: bytes, keyring: Keyring) -> bytes:
    try:
        return open_value(value, keyring)
    except EnvelopeError:
        return b""


def _report_id(value: bytes) -> object:
    try:
        return json.loads(value).get("report_id")
    except ValueError:
        return None


async def dead_letters_with(bootstrap: str, marker: str) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=f"t-{uuid.uuid4().hex}"
    )
    await consumer.start()
    try:
        found = []
        for records in (await consumer.getmany(timeout_ms=3000, max_records=10_000)).values():
            for r in records:
                if r.key and r.key.decode().startswith(marker):
                    found.append(json.loads(r.value))
        return found
    finally:
        await consumer.stop()


async def test_poison_at_one_percent_is_dead_lettered_and_good_reports_flow(
    fault_kafka: KafkaHandle, fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    marker = f"POISON{uuid.uuid4().hex[:6]}"
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=8)
    producer = AIOKafkaProducer(
        bootstrap_servers=fault_kafka.bootstrap_servers, enable_idempotence=True, max_request_size=2_000_000
    )
    await producer.start()
    stream.start()
    poison = poison_messages(marker)
    try:
        for i, (topic, value, _) in enumerate(poison):
            await asyncio.sleep(3)
            await producer.send_and_wait(topic, value, key=f"{marker}-{i}".encode())
        await asyncio.sleep(3)
    finally:
        await stream.stop()
        await producer.stop()
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream)

    async def all_dead_lettered() -> bool:
        return len(await dead_letters_with(fault_kafka.bootstrap_servers, marker)) >= len(poison)

    assert await eventually(all_dead_lettered, timeout=60)
    letters = await dead_letters_with(fault_kafka.bootstrap_servers, marker)
    total = result.accepted_202 + result.expected_deliveries + len(poison)
    print("\n" + result.line(f"poison {len(poison)} of {total} messages ({100 * len(poison) / total:.1f} %)"))
    print("dead letters:", sorted((str(x["source_topic"]), str(x["reason"])) for x in letters))
    assert sorted((str(x["source_topic"]), str(x["reason"])) for x in letters) == sorted(
        (topic, reason) for topic, _, reason in poison
    )
    assert result.lost == 0 and result.dead_letters == 0
    assert result.extra_delivered_attempts == 0


async def test_republished_notifications_create_no_extra_rows_or_webhooks(
    fault_kafka: KafkaHandle, fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=8)
    stream.start()
    await asyncio.sleep(8)
    await stream.stop()
    sim = fault_pipeline.url("recipient-sim")
    before = await drain(fault_db, sim, stream)
    ids = set(stream.report_ids)
    keyring = pipeline_keyring(fault_pipeline)
    consumer = AIOKafkaConsumer(
        *NOTIFICATION_TOPICS.values(),
        bootstrap_servers=fault_kafka.bootstrap_servers,
        auto_offset_reset="earliest",
        group_id=f"t-{uuid.uuid4().hex}",
    )
    await consumer.start()
    ours = []
    try:
        for records in (await consumer.getmany(timeout_ms=5000, max_records=50_000)).values():
            ours += [r for r in records if _report_id(_opened(r.value, keyring)) in ids]  # sealed: opened
    finally:
        await consumer.stop()
    duplicates = random.Random(3).sample(ours, max(10, len(ours) // 20))  # 5 %
    producer = AIOKafkaProducer(bootstrap_servers=fault_kafka.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        for record in duplicates:
            await producer.send_and_wait(record.topic, record.value, key=record.key)
    finally:
        await producer.stop()
    await asyncio.sleep(10)  # let the notifiers consume the duplicates
    after = await figures(fault_db, sim, stream)
    summary_before = await delivery_summary(fault_db, list(ids))
    print("\n" + after.line(f"{len(duplicates)} notifications re-published ({len(ours)} in the run)"))
    assert after.deliveries == before.deliveries == after.expected_deliveries
    assert after.duplicates_received == before.duplicates_received == 0
    assert after.extra_delivered_attempts == 0
    assert (await delivery_summary(fault_db, list(ids)))["attempts"] == summary_before["attempts"]
