"""One real pipeline (real Kafka, real PostgreSQL, every service as a process) for the integration suite."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from shared.store.engine import make_engine


@pytest.fixture(scope="session")
def database_url(postgres: PostgresHandle) -> str:
    return postgres.create_database("integration")


@pytest.fixture(scope="module")
def pipeline(kafka: KafkaHandle, database_url: str, work_dir: Path) -> Iterator[Pipeline]:
    """One per module, never alive while another module's own pipeline runs: pipelines on the one broker share
    topics and consumer groups, so an overlapping one takes some of the other's reports (and, its envelope
    key being different, dead-letters them)."""
    config = PipelineConfig(
        kafka.bootstrap_servers,
        database_url,
        work_dir / "integration-pipeline",
        ack_delay_seconds=0.2,
        environment="test",
        notifier_retry_schedule="[1, 1]",
    )
    running = Pipeline(config)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(database_url, pre_ping=True)
    yield engine
    await engine.dispose()
