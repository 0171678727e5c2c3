"""PostgreSQL stopped for 30 s mid-stream: no offset moves past unrecorded work, nothing is lost after."""

import asyncio

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline
from tests.conftest import unavailable
from tests.fault.harness import ReportStream, drain

pytestmark = pytest.mark.fault


async def test_database_down_for_30_seconds_loses_nothing(
    postgres: PostgresHandle, fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    if postgres.kind != "local":
        unavailable("this fault test needs a PostgreSQL the suite started itself, so it can stop it")
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=4)
    stream.start()
    try:
        await asyncio.sleep(5)
        await asyncio.to_thread(postgres.kill)
        await asyncio.sleep(30)
        await asyncio.to_thread(postgres.start)
        await asyncio.sleep(5)
    finally:
        await stream.stop()
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream, timeout=300)
    print("\n" + result.line(f"PostgreSQL down 30 s (intake refused {stream.refused})"))
    assert result.accepted_202 > 50  # intake needs only Kafka: reports are accepted while the database is down
    assert result.lost == 0 and result.dead_letters == 0
    assert result.mismatched_webhook_ids == 0 and result.extra_delivered_attempts == 0
