"""Shared test plumbing: the real broker and database, provided once per session.

Outside CI a missing prerequisite (Java, Maven, PostgreSQL) skips the suites that need it; with
CI=true it fails them, so a green CI always means the guarantees were checked for real.
"""

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devtools.infra.kafka_runtime import KafkaHandle, provide_kafka
from devtools.infra.ports import MissingPrerequisite
from devtools.infra.postgres_runtime import PostgresHandle, provide_postgres

# Fail closed (shared/settings.py): no service starts without ENVIRONMENT; the suites say so explicitly.
os.environ["ENVIRONMENT"] = "test"
# The recipient simulator and the test servers listen on 127.0.0.1 (shared/egress.py refuses loopback otherwise).
os.environ["EGRESS_ALLOW_LOOPBACK"] = "true"
# Intake without OAuth (allowed in local/test only); tests/security runs intake with real tokens.
os.environ["INTAKE_AUTH"] = "none"
# /metrics without a bearer token (shared/metrics_access.py; allowed in local/test only).
os.environ["METRICS_OPEN"] = "true"

IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(reason: str) -> None:
    if IN_CI:
        pytest.fail(f"CI=true and a prerequisite is missing: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def work_dir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="careline-tests-"))
    yield path
    if not os.environ.get("KEEP_TEST_WORK_DIR"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def kafka(work_dir: Path) -> Iterator[KafkaHandle]:
    try:
        handle = provide_kafka(work_dir / "kafka")
    except MissingPrerequisite as exc:
        unavailable(f"no Kafka broker: {exc}")
    print(f"\nKafka {handle.version} ({handle.kind}) ready in {handle.startup_seconds:.1f}s")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def postgres(work_dir: Path) -> Iterator[PostgresHandle]:
    try:
        handle = provide_postgres(work_dir / "postgres")
    except MissingPrerequisite as exc:
        unavailable(f"no PostgreSQL: {exc}")
    yield handle
    handle.stop()


@pytest.fixture(scope="session")
def output_dir() -> Path:
    path = Path(os.environ.get("TEST_OUTPUT_DIR", Path(__file__).resolve().parent.parent / "test-output"))
    path.mkdir(parents=True, exist_ok=True)
    return path
