"""Bad input loses nothing: poison on the Kafka way in lands in the dead-letter topic with its reason,
and good reports behind it keep flowing."""

import json
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from shared.events import CarelineReport
from shared.topics import CARELINE_INBOUND, DEAD_LETTERS
from tests.helpers import delivery_summary, eventually
from tests.unit.routing_support import routed

pytestmark = pytest.mark.integration


async def read_dead_letters(bootstrap: str, marker: str, expected: int, timeout: float = 60) -> list[dict[str, object]]:
    consumer = AIOKafkaConsumer(
        DEAD_LETTERS, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=f"test-dlq-{uuid.uuid4().hex}"
    )
    await consumer.start()
    found: list[dict[str, object]] = []
    try:

        async def enough() -> bool:
            batch = await consumer.getmany(timeout_ms=500)
            for records in batch.values():
                for record in records:
                    letter = json.loads(record.value)
                    if record.key and record.key.decode().startswith(marker):
                        found.append(letter)
            return len(found) >= expected

        await eventually(enough, timeout=timeout, interval=0)
    finally:
        await consumer.stop()
    return found


async def test_poison_on_the_inbound_topic_is_dead_lettered_and_good_reports_flow(
    kafka: KafkaHandle, pipeline: Pipeline, db: AsyncEngine
) -> None:
    marker = f"POISON-{uuid.uuid4().hex[:6]}"
    good = [sample_report(f"CL-INB-{marker[-6:]}-{i}", "Bristol") for i in range(3)]
    wrong_schema = sample_report(f"{marker}-x", "Bristol")
    del wrong_schema["child"]
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True)
    await producer.start()
    try:
        await producer.send_and_wait(CARELINE_INBOUND, b"{not json", key=f"{marker}-json".encode())
        await producer.send_and_wait(CARELINE_INBOUND, json.dumps(good[0]).encode(), key=b"good-0")
        await producer.send_and_wait(
            CARELINE_INBOUND, json.dumps(wrong_schema).encode(), key=f"{marker}-schema".encode()
        )
        for i, report in enumerate(good[1:], start=1):
            await producer.send_and_wait(CARELINE_INBOUND, json.dumps(report).encode(), key=f"good-{i}".encode())
    finally:
        await producer.stop()

    letters = await read_dead_letters(kafka.bootstrap_servers, marker, expected=2)
    reasons = sorted(str(letter["reason"]) for letter in letters)
    print(f"\ndead letters: {reasons}")
    assert reasons == ["invalid_json", "schema_invalid"]
    schema_letter = next(letter for letter in letters if letter["reason"] == "schema_invalid")
    assert "child" in str(schema_letter["detail"])
    assert schema_letter["source_topic"] == CARELINE_INBOUND

    ids = [r["careline_report_id"] for r in good]
    want = sum(len(routed(CarelineReport.model_validate(r)).recipients) for r in good)  # what the policy decides

    async def good_ones_acknowledged() -> bool:
        return (await delivery_summary(db, ids))["ack_rows"] == want

    assert await eventually(good_ones_acknowledged, timeout=90), await delivery_summary(db, ids)
