"""One real pipeline (real Kafka, real PostgreSQL, every service as a process) for the integration suite."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle, provide_kafka
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from shared.store.engine import make_engine


@pytest.fixture(scope="session")
def database_url(postgres: PostgresHandle) -> str:
    return postgres.create_database("integration")


@pytest.fixture(scope="package")
def pipeline(kafka: KafkaHandle, database_url: str, work_dir: Path) -> Iterator[Pipeline]:
    """One for the whole integration suite (each test keeps its own report ids), stopped when the suite ends.

    Pipelines on one broker share topics and consumer groups, so one alive beside it would take some of its
    reports (and, its envelope key being different, dead-letter them): a module that needs a pipeline with
    other options runs it on a broker of its own (`own_broker`)."""
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


@pytest.fixture(scope="module")
def own_broker(kafka: KafkaHandle, request: pytest.FixtureRequest, work_dir: Path) -> Iterator[KafkaHandle]:
    """A broker for one module's own pipeline, so it never shares topics and groups with `pipeline`'s."""
    if kafka.kind == "external":  # one given broker only (KAFKA_BOOTSTRAP_SERVERS): share it
        yield kafka
        return
    handle = provide_kafka(work_dir / f"kafka-{request.module.__name__.rsplit('.', 1)[-1]}")
    yield handle
    handle.stop()
