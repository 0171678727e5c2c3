"""On the real broker: intake's Kafka way in, configured as in production, dead-letters an unsealed inbound record
with `inbound_not_sealed` and no contents, and goes on to accept the sealed record behind it on the same
partition. The consumer is intake's own (`consume` + `make_inbound_processor`, shared/consuming.py's poison rules),
run in this process on a topic and dead-letter topic of this test's own, so no other test's records meet it.

Needs Kafka; run it under `heavy`.
"""

import base64
import json
import time
import uuid
from datetime import UTC, datetime

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.structs import TopicPartition

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.runner.samples import sample_report
from services.intake.inbound import NOT_SEALED, make_inbound_processor
from shared.consuming import consume
from shared.envelope import Keyring, new_key, open_record, seal_for_kafka
from shared.http import BrokerConnection
from shared.kafka import make_broker
from shared.settings import KafkaSettings
from shared.topics import REPORTS, ensure_topics, topic_specs
from tests.security.probe import tried

pytestmark = pytest.mark.integration

Record = tuple[bytes | None, bytes, list[tuple[str, bytes]], int]


async def _create(bootstrap: str, *names: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, 1, 1) for name in names])
    finally:
        await admin.close()


async def _read(bootstrap: str, topic: str, partitions: int, until: int, timeout: float) -> list[Record]:
    """Records of `topic` from the beginning, until `until` of them match or the time is up."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(partitions)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[Record] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(found) < until:
            batch = await consumer.getmany(timeout_ms=500)
            found += [(r.key, r.value or b"", list(r.headers), r.offset) for rs in batch.values() for r in rs]
        return found
    finally:
        await consumer.stop()


async def test_production_inbound_dead_letters_unsealed_and_accepts_sealed_on_kafka(
    kafka: KafkaHandle, monkeypatch: pytest.MonkeyPatch
) -> None:
    bootstrap = kafka.bootstrap_servers
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", bootstrap)  # the stream consumer reads KafkaSettings() itself
    tag = uuid.uuid4().hex[:8]
    inbound, dead_letters = f"sec-inbound-{tag}", f"sec-deadletter-{tag}"
    await ensure_topics(bootstrap)
    await _create(bootstrap, inbound, dead_letters)
    ring = Keyring("careline-1", {"careline-1": base64.b64decode(new_key())})

    clear = sample_report(f"CL-INBK-{tag}-CLEAR", "Hartford")
    sealed_report = sample_report(f"CL-INBK-{tag}-SEALED", "Hartford")
    for report in (clear, sealed_report):
        report["received_at"] = datetime.now(UTC).isoformat()
        report["narrative"] = f"Seeded broker narrative {uuid.uuid4().hex}"
    personal = [clear["child"]["first_name"], clear["child"]["last_name"], clear["narrative"]]

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:  # as a Careline producer would: one forgot the envelope, the next sealed it (seal_for_kafka)
        await producer.send_and_wait(inbound, json.dumps(clear).encode(), key=b"careline")
        value, headers = seal_for_kafka(json.dumps(sealed_report).encode(), ring)
        await producer.send_and_wait(inbound, value, key=b"careline", headers=headers)
    finally:
        await producer.stop()

    kafka_settings = KafkaSettings(bootstrap_servers=bootstrap)
    broker = make_broker("intake-inbound-test", kafka_settings)
    connection = BrokerConnection(broker)
    processor = make_inbound_processor(broker, kafka_settings, ring, "production")
    consume(connection, [inbound], f"sec-inbound-{tag}", processor, dead_letter_topic=dead_letters)
    started = time.monotonic()
    reports_partitions = next(spec.partitions for spec in topic_specs() if spec.name == REPORTS)
    accepted: list[Record] = []
    async with connection.running():
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not accepted:
            found = await _read(bootstrap, REPORTS, reports_partitions, 10**9, 2)
            accepted = [r for r in found if r[0] == sealed_report["careline_report_id"].encode()]
    letters = await _read(bootstrap, dead_letters, 1, 1, 30)
    tried(
        f"production inbound consumer on {inbound}: an unsealed report, then a sealed one",
        {
            "dead letters": [json.loads(v) for _, v, _, _ in letters],
            f"{REPORTS} records for the sealed one": [(len(v), dict(h)) for _, v, h, _ in accepted],
            "seconds": round(time.monotonic() - started, 1),
        },
    )
    assert len(letters) == 1
    letter = json.loads(letters[0][1])
    assert letter["reason"] == NOT_SEALED and letter["source_topic"] == inbound and letter["source_offset"] == 0
    assert letter["original_value_b64"] is None
    assert not [s for s in personal if s in letters[0][1].decode()]
    assert len(accepted) == 1  # the partition kept flowing past the poison
    _, value, out_headers, _ = accepted[0]
    assert sealed_report["narrative"].encode() not in value
    opened = json.loads(open_record(value, out_headers, ring, environment="production"))
    assert opened["report"]["narrative"] == sealed_report["narrative"]
