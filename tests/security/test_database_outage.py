"""PostgreSQL stopped under the real acks and intake processes: 503 with Retry-After and a JSON message, no 500,
no traceback in the log; once it is back, the same requests work again.

Needs Kafka and a PostgreSQL the suite started itself (it stops and restarts it); run it under `heavy`.
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from devtools.runner.samples import sample_report
from shared.production_checks import DEV_SEED
from shared.signing import derive_dev_secret, sign_headers
from tests.conftest import unavailable
from tests.security.probe import tried

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def pipeline(kafka: KafkaHandle, postgres: PostgresHandle, work_dir: Path) -> Iterator[Pipeline]:
    if postgres.kind != "local":
        unavailable("this test needs a PostgreSQL the suite started itself, so it can stop it")
    config = PipelineConfig(
        kafka.bootstrap_servers, postgres.create_database("outage"), work_dir / "outage", environment="test"
    )
    running = Pipeline(config)
    running.start(only=["acks", "intake"])
    try:
        yield running
    finally:
        running.stop()
        if not postgres.is_running:
            postgres.start()


def _ack(acks: str, webhook_id: str) -> httpx.Response:
    body = json.dumps({"notification_id": "ntf_outage", "agency_id": "pd-hartford", "acknowledged_by": "b-7"}).encode()
    secret = derive_dev_secret(DEV_SEED, "ack", "pd-hartford")
    headers = sign_headers([secret], webhook_id, body) | {"content-type": "application/json"}
    return httpx.post(f"{acks}/v1/acks", content=body, headers=headers, timeout=30)


def test_acks_and_intake_answer_503_while_postgresql_is_stopped(pipeline: Pipeline, postgres: PostgresHandle) -> None:
    acks, intake = pipeline.url("acks"), pipeline.url("intake")
    before = _ack(acks, "wh-outage-before")
    tried("POST /v1/acks (signed, unknown notification), PostgreSQL up", f"{before.status_code} {before.text}")
    assert before.status_code == 404

    postgres.stop()
    try:
        down = [
            ("POST /v1/acks (signed)", _ack(acks, "wh-outage-down")),
            ("GET /v1/reports/{id}", httpx.get(f"{intake}/v1/reports/CL-OUTAGE-REAL", timeout=30)),
            ("GET /v1/reports/{id}/timeline", httpx.get(f"{intake}/v1/reports/CL-OUTAGE-REAL/timeline", timeout=30)),
        ]
        report = sample_report("CL-OUTAGE-REAL", "Hartford")
        report["received_at"] = datetime.now(UTC).isoformat()
        started = time.monotonic()
        accepted = httpx.post(f"{intake}/v1/reports", json=report, timeout=30)
        took = time.monotonic() - started
    finally:
        postgres.start()
    for what, response in down:
        retry_after = response.headers.get("retry-after")
        tried(f"{what}, PostgreSQL stopped", f"{response.status_code} Retry-After={retry_after} {response.text}")
        assert response.status_code == 503, what
        assert response.headers["retry-after"] == "5"
        assert "database is unavailable" in response.json()["error"]
    tried("POST /v1/reports, PostgreSQL stopped", f"{accepted.status_code} in {took:.1f}s {accepted.text[:80]}")
    assert accepted.status_code == 202  # intake needs only Kafka to accept

    after = _ack(acks, "wh-outage-after")
    tried("POST /v1/acks again, PostgreSQL back", f"{after.status_code} {after.text}")
    assert after.status_code == 404  # the pool reconnected by itself
    for name in ("acks", "intake"):
        log = pipeline.services[name].log_path.read_text(errors="replace")
        assert "Traceback" not in log and "Exception in ASGI application" not in log, name
        assert "database_unavailable" in log, name
