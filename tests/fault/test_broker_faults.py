"""Kafka down or bounced: intake answers 503, never 202, while it is down; nothing accepted is lost."""

import asyncio
import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from tests.fault.harness import ReportStream, drain
from tests.helpers import delivery_summary, eventually, expected_notifications, notification_rows

pytestmark = pytest.mark.fault


async def test_intake_answers_503_while_the_broker_is_down_and_nothing_accepted_is_lost(
    fault_kafka: KafkaHandle, fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    tag = uuid.uuid4().hex[:6].upper()
    intake = fault_pipeline.url("intake")
    async with httpx.AsyncClient(timeout=60) as client:
        before = [sample_report(f"CL-BD-{tag}-A{i}", "Norwich") for i in range(5)]
        assert [(await client.post(f"{intake}/v1/reports", json=r)).status_code for r in before] == [202] * 5

        fault_kafka.kill()
        during = [sample_report(f"CL-BD-{tag}-B{i}", "Norwich") for i in range(3)]
        statuses = [(await client.post(f"{intake}/v1/reports", json=r)).status_code for r in during]
        print(f"\nwhile the broker was down: {statuses}")
        assert statuses == [503, 503, 503]

        fault_kafka.restart()
        after = [sample_report(f"CL-BD-{tag}-C{i}", "Norwich") for i in range(5)]

        async def accepted_again() -> bool:
            return (await client.post(f"{intake}/v1/reports", json=after[0])).status_code == 202

        assert await eventually(accepted_again, timeout=90, interval=1)
        assert [(await client.post(f"{intake}/v1/reports", json=r)).status_code for r in after[1:]] == [202] * 4

        accepted = [r["careline_report_id"] for r in before + after]
        expected = sum(expected_notifications(r) for r in before + after)

        async def all_acked() -> bool:
            return (await delivery_summary(fault_db, accepted))["ack_rows"] == expected

        assert await eventually(all_acked, timeout=180), await delivery_summary(fault_db, accepted)
        summary = await delivery_summary(fault_db, accepted)
        print(f"accepted {len(accepted)} reports, after recovery: {summary}")


async def test_broker_sigkill_mid_stream_repeated_then_clean_restart_loses_nothing(
    fault_kafka: KafkaHandle, fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=4)
    stream.start()
    try:
        for bounce in range(3):
            await asyncio.sleep(4)
            fault_kafka.kill()
            await asyncio.sleep(3)
            await asyncio.to_thread(fault_kafka.restart)
            print(f"\nbroker SIGKILL bounce {bounce + 1} done")
        await asyncio.sleep(4)
        fault_kafka.terminate()
        await asyncio.to_thread(fault_kafka.restart)
        await asyncio.sleep(4)
    finally:
        await stream.stop()
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream, timeout=300)
    print(result.line(f"broker SIGKILL x3 + SIGTERM x1 (refused while down: {stream.refused})"))
    assert result.accepted_202 > 20
    assert result.lost == 0 and result.dead_letters == 0
    assert result.mismatched_webhook_ids == 0
    assert result.extra_delivered_attempts == 0

    async def acknowledged() -> list[bool]:
        return [r.acknowledged_at is not None for r in await notification_rows(fault_db, stream.report_ids)]

    async def all_acknowledged() -> bool:
        return all(await acknowledged())

    # Every service outlives the bounces, acks included: its producer must recover, not refuse every ack after.
    done = await eventually(all_acknowledged, timeout=180)
    states = await acknowledged()
    print(f"acknowledged after the bounces: {sum(states)} of {len(states)}")
    assert done
