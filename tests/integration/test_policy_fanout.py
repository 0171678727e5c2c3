"""Policy fan-out on real Kafka: a report with two towns reaches each recipient's topic, minimised."""

import asyncio
import json
import time
import uuid
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from services.router.payloads import payload_for
from shared.envelope import Keyring
from shared.events import CarelineReport
from shared.topics import NOTIFICATION_TOPICS, ROUTING_DECISIONS
from tests.helpers import notification_json, pipeline_keyring
from tests.unit.routing_support import POLICY, routed

pytestmark = pytest.mark.integration


async def read_for_report(
    bootstrap: str, topics: list[str], report_id: str, want: int, keyring: Keyring
) -> list[dict[str, Any]]:
    """A fresh consumer group reads the topics from the start and keeps this report's messages."""
    consumer = AIOKafkaConsumer(
        *topics, bootstrap_servers=bootstrap, group_id=f"test-fanout-{uuid.uuid4().hex}", auto_offset_reset="earliest"
    )
    await consumer.start()
    found: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 60
        while len(found) < want and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                for record in records:
                    value = notification_json(record.value, keyring)  # sealed notifications are opened
                    if value.get("report_id") == report_id:
                        found.append({"topic": record.topic, **value})
        await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return found


async def test_two_towns_fan_out_to_the_right_topics_with_allow_lists_applied(
    pipeline: Pipeline, kafka: KafkaHandle
) -> None:
    report = sample_report(f"CL-FAN-{uuid.uuid4().hex[:6].upper()}", "Hartford", occurrence_towns=["New Haven"])
    rid = report["careline_report_id"]
    parsed = CarelineReport.model_validate(report)
    decision = routed(parsed)
    expected = {(r.kind.value, r.agency.agency_id) for r in decision.recipients}
    assert {a for k, a in expected if k == "police"} == {"pd-hartford", "pd-new-haven"}

    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{pipeline.url('intake')}/v1/reports", json=report)
    assert response.status_code == 202

    topics = sorted(set(NOTIFICATION_TOPICS.values()))
    got = await read_for_report(kafka.bootstrap_servers, topics, rid, len(expected), pipeline_keyring(pipeline))
    assert {(n["recipient_kind"], n["agency_id"]) for n in got} == expected
    for n in got:
        kind = next(r.kind for r in decision.recipients if r.kind.value == n["recipient_kind"])
        assert n["topic"] == NOTIFICATION_TOPICS[kind]
        assert n["policy_version"] == POLICY.version
        assert n["payload"] == payload_for(parsed, POLICY.recipient_kinds[kind])
        text = json.dumps(n["payload"])
        assert report["reporter"]["name"] not in text and report["narrative"] not in text

    [audit] = await read_for_report(kafka.bootstrap_servers, [ROUTING_DECISIONS], rid, 1, pipeline_keyring(pipeline))
    assert audit["policy_version"] == POLICY.version and audit["matched_rules"] == list(decision.matched_rules)
    assert {(r["recipient_kind"], r["agency_id"]) for r in audit["recipients"]} == expected
    assert report["child"]["first_name"] not in json.dumps(audit)
