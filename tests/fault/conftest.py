"""Fault tests kill and restart things, so they never share a broker or pipeline with another suite.

Within the suite, modules that take the default options share one broker, database and pipeline (started
once, stopped when the suite ends): each test keeps its own report ids and oracle, and leaves the pipeline
healthy. A module that needs other schedules or timeouts (``PIPELINE_OPTIONS``) gets a broker and pipeline
of its own.
"""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle, provide_kafka
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from shared.store.engine import make_engine
from tests.conftest import IN_CI

DEFAULT_OPTIONS: dict[str, Any] = {
    "ack_delay_seconds": 0.2,
    "environment": "test",
    "notifier_retry_schedule": "[1, 1, 1]",
    "notifier_env": {"NOTIFIER_BREAKER_COOLDOWN_SECONDS": "2"},
}


def _module_name(request: pytest.FixtureRequest) -> str:
    return str(request.module.__name__.rsplit(".", 1)[-1])


def _own_options(request: pytest.FixtureRequest) -> dict[str, Any] | None:
    options: dict[str, Any] | None = getattr(request.module, "PIPELINE_OPTIONS", None)
    return options


def _killable_broker(kafka: KafkaHandle, folder: Path) -> KafkaHandle:
    if kafka.kind != "maven":
        msg = f"fault tests need a broker they can kill; this one is {kafka.kind}"
        if IN_CI:
            pytest.fail(msg)
        pytest.skip(msg)
    return provide_kafka(folder)


def _start_pipeline(kafka: KafkaHandle, database_url: str, folder: Path, options: dict[str, Any]) -> Pipeline:
    running = Pipeline(PipelineConfig(kafka.bootstrap_servers, database_url, folder, **{**DEFAULT_OPTIONS, **options}))
    running.start()
    return running


@pytest.fixture(scope="package")
def shared_fault_kafka(kafka: KafkaHandle, work_dir: Path) -> Iterator[KafkaHandle]:
    handle = _killable_broker(kafka, work_dir / "kafka-fault-shared")
    yield handle
    handle.stop()


@pytest.fixture(scope="package")
def shared_fault_database_url(postgres: PostgresHandle) -> str:
    return postgres.create_database("fault_shared")


@pytest.fixture(scope="package")
def shared_fault_pipeline(
    shared_fault_kafka: KafkaHandle, shared_fault_database_url: str, work_dir: Path
) -> Iterator[Pipeline]:
    running = _start_pipeline(shared_fault_kafka, shared_fault_database_url, work_dir / "pipeline-fault-shared", {})
    yield running
    running.stop()


@pytest.fixture(scope="module")
def fault_kafka(kafka: KafkaHandle, work_dir: Path, request: pytest.FixtureRequest) -> Iterator[KafkaHandle]:
    """The suite's shared broker, or one of the module's own when it brings its own options."""
    if _own_options(request) is None:
        yield request.getfixturevalue("shared_fault_kafka")
        return
    handle = _killable_broker(kafka, work_dir / f"kafka-{_module_name(request)}")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def fault_database_url(postgres: PostgresHandle, request: pytest.FixtureRequest) -> str:
    if _own_options(request) is None:
        return str(request.getfixturevalue("shared_fault_database_url"))
    return postgres.create_database(f"fault_{_module_name(request)}")


@pytest.fixture(scope="module")
def fault_pipeline(
    fault_kafka: KafkaHandle, fault_database_url: str, work_dir: Path, request: pytest.FixtureRequest
) -> Iterator[Pipeline]:
    options = _own_options(request)
    if options is None:
        shared: Pipeline = request.getfixturevalue("shared_fault_pipeline")
        yield shared
        return
    running = _start_pipeline(fault_kafka, fault_database_url, work_dir / f"pipeline-{_module_name(request)}", options)
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def fault_db(fault_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(fault_database_url, pre_ping=True)
    yield engine
    await engine.dispose()
