"""Router and notifiers killed (SIGKILL) at random points, including between a webhook's 2xx and the
database write; graceful restarts (SIGTERM). Nothing accepted is lost; replays create no extra rows."""

import asyncio
import random

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from tests.fault.harness import ReportStream, drain

pytestmark = pytest.mark.fault


async def test_sigkill_of_router_and_notifiers_mid_stream_loses_nothing(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    rng = random.Random(7)
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=4)
    stream.start()
    victims = ["router", "notifier", "router", "notifier", "notifier", "router"]
    try:
        for name in victims:
            await asyncio.sleep(rng.uniform(1.5, 4.0))
            service = fault_pipeline.services[name]
            service.kill()
            await asyncio.sleep(rng.uniform(0.2, 1.5))
            service.start()
            await asyncio.to_thread(service.wait_healthy, 90)
        await asyncio.sleep(2)
    finally:
        await stream.stop()
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream)
    print("\n" + result.line(f"SIGKILL x{len(victims)} router/notifiers"))
    assert result.accepted_202 > 20
    assert result.lost == 0 and result.dead_letters == 0
    assert result.mismatched_webhook_ids == 0
    assert result.extra_delivered_attempts == 0


async def test_crash_between_webhook_2xx_and_database_write_redelivers_with_the_same_webhook_id(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    notifier = fault_pipeline.services["notifier"]
    product_module = notifier.module
    notifier.module = "tests.fault.crashing_notifier"  # the notifier with a crash hook for FBI deliveries
    notifier.env["CRASH_AFTER_DELIVERY_PROBABILITY"] = "0.15"
    notifier.terminate()
    notifier.start()
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=3)
    crashes = 0
    stream.start()
    try:
        for _ in range(40):  # supervise: restart the notifier whenever the hook killed it
            await asyncio.sleep(0.5)
            if not notifier.is_running():
                crashes += 1
                notifier.start()  # it may die again before it is even healthy: that is the point
    finally:
        await stream.stop()
    notifier.env.pop("CRASH_AFTER_DELIVERY_PROBABILITY")
    notifier.module = product_module
    if not notifier.is_running():
        crashes += 1
    notifier.terminate()
    notifier.start()
    await asyncio.to_thread(notifier.wait_healthy, 90)
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream)
    print("\n" + result.line(f"crash after 2xx before DB write ({crashes} crashes)"))
    assert crashes >= 1
    assert result.lost == 0 and result.dead_letters == 0
    # The recipient sees a notification twice only when its acknowledgement had not yet arrived when the
    # notifier came back (an acknowledged notification is never sent again); a repeat keeps its webhook-id.
    assert result.mismatched_webhook_ids == 0
    assert result.extra_delivered_attempts == 0  # and the database recorded one delivery


async def test_graceful_restart_of_every_consumer_service_makes_no_duplicates(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=4)
    before = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream)  # baseline of this module
    stream.start()
    try:
        for name in ["router", "notifier", "acks", "router", "notifier"]:
            await asyncio.sleep(1.5)
            await asyncio.to_thread(fault_pipeline.services[name].restart, 90)
        await asyncio.sleep(2)
    finally:
        await stream.stop()
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream)
    print("\n" + result.line("SIGTERM restart of each consumer"))
    assert before.accepted_202 == 0
    assert result.lost == 0 and result.dead_letters == 0
    assert result.duplicates_received == 0
    assert result.extra_delivered_attempts == 0
