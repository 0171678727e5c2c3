"""Fault tests get their own broker and pipeline: they kill and restart things."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.infra.kafka_runtime import KafkaHandle, provide_kafka
from shared.infra.postgres_runtime import PostgresHandle
from shared.runner.pipeline import Pipeline, PipelineConfig
from shared.store.engine import make_engine
from tests.conftest import IN_CI


@pytest.fixture(scope="module")
def fault_kafka(kafka: KafkaHandle, work_dir: Path, request: pytest.FixtureRequest) -> Iterator[KafkaHandle]:
    """A broker of the fault suite's own, so killing it cannot disturb other suites."""
    if kafka.kind != "maven":
        msg = f"fault tests need a broker they can kill; this one is {kafka.kind}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    handle = provide_kafka(work_dir / f"kafka-{request.module.__name__.rsplit('.', 1)[-1]}")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def fault_database_url(postgres: PostgresHandle, request: pytest.FixtureRequest) -> str:
    return postgres.create_database(f"fault_{request.module.__name__.rsplit('.', 1)[-1]}")


@pytest.fixture(scope="module")
def fault_pipeline(
    fault_kafka: KafkaHandle, fault_database_url: str, work_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Pipeline]:
    name = request.module.__name__.rsplit(".", 1)[-1]
    options: dict[str, Any] = {
        "ack_delay_seconds": 0.2,
        "environment": "test",
        "notifier_retry_schedule": "[1, 1, 1]",
        "notifier_env": {"NOTIFIER_BREAKER_COOLDOWN_SECONDS": "2"},
        **getattr(request.module, "PIPELINE_OPTIONS", {}),  # a module may need other schedules or timeouts
    }
    config = PipelineConfig(fault_kafka.bootstrap_servers, fault_database_url, work_dir / f"pipeline-{name}", **options)
    running = Pipeline(config)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def fault_db(fault_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(fault_database_url)
    yield engine
    await engine.dispose()
