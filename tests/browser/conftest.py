"""Real headless Chromium (Debian's package, driven by Playwright for Python; no browser download) against a
real pipeline of its own, whose retry tiers are slow enough for a person, and a test, to see 'retrying'."""

import shutil
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

from devtools.infra.kafka_runtime import KafkaHandle, provide_kafka
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from devtools.runner.samples import sample_report
from shared.events import CarelineReport
from tests.conftest import unavailable
from tests.unit.routing_support import agencies, routed

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


# The police department that never acknowledges (the simulator's SIM_NEVER_ACK): its clock keeps running.
SILENT_TOWN = "New London"


def police_of(report: dict[str, object]) -> str:
    found = agencies(routed(CarelineReport.model_validate(report)), "police")
    assert len(found) == 1, found
    return found[0]


SILENT_POLICE = police_of(sample_report("CL-SILENT", SILENT_TOWN))


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser_kafka(kafka: KafkaHandle, work_dir: Path) -> Iterator[KafkaHandle]:
    """A broker of its own: the pipeline's consumer groups must not share partitions with another suite's."""
    if kafka.kind == "external":
        yield kafka
        return
    handle = provide_kafka(work_dir / "kafka-browser")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def browser_pipeline(browser_kafka: KafkaHandle, postgres: PostgresHandle, work_dir: Path) -> Iterator[Pipeline]:
    if chromium_path() is None:
        unavailable("no chromium (apt-get install chromium)")
    config = PipelineConfig(
        browser_kafka.bootstrap_servers,
        postgres.create_database("browser"),
        work_dir / "browser-pipeline",
        ack_delay_seconds=0.5,
        environment="test",
        notifier_retry_schedule="[5, 30]",
        extra_env={"SIM_NEVER_ACK": SILENT_POLICE},
    )
    running = Pipeline(config)
    running.start(timeout=180)
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    path = chromium_path()
    if path is None:
        unavailable("no chromium (apt-get install chromium)")
    async with async_playwright() as p:
        launched = await p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()
