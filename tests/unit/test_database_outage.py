"""PostgreSQL away: acks and intake answer 503 with Retry-After and a clear JSON message, never a 500.

The database is a PostgreSQL URL on a port nobody listens on (what a stopped server looks like: connection
refused), and, for the errors a restarting server raises, a session factory whose every use fails with
SQLAlchemy's OperationalError around asyncpg's CannotConnectNowError ("the database system is starting up").
Kafka is a recording fake, so intake can still accept (202) on Kafka's word alone.
"""

import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy.exc import DataError, IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from devtools.infra.ports import free_port
from devtools.runner.samples import sample_report
from services.intake.settings import IntakeSettings
from shared.acklinks import DEV_LINK_SECRET, make_token
from shared.database_outage import is_database_outage
from shared.signing import derive_dev_secret, sign_headers
from tests.fakes import CountingBroker

SECRET = derive_dev_secret("outage", "ack", "pd-hartford")


def _starting_up_engine(*_: Any, **__: Any) -> AsyncEngine:
    """A real engine whose every connection attempt meets a PostgreSQL that is still starting up."""

    async def connect() -> Any:
        raise asyncpg.CannotConnectNowError("the database system is starting up")

    return create_async_engine("postgresql+asyncpg://careline@127.0.0.1/careline", async_creator=connect)


def _wait_ready(client: TestClient) -> None:
    deadline = time.monotonic() + 10
    while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.fixture(params=["stopped", "starting_up"])
def outage(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[str]:
    """DATABASE_URL points at a closed port; with "starting_up" the sessions fail as a restarting server's."""
    monkeypatch.setenv("DATABASE_URL", f"postgresql+asyncpg://careline:x@127.0.0.1:{free_port()}/careline")
    config = tmp_path / "agencies.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "agencies": {
                    "pd-hartford": {
                        "webhook_url": "http://127.0.0.1:1/x",
                        "webhook_secrets": [derive_dev_secret("outage", "webhook", "pd-hartford")],
                        "ack_secrets": [SECRET],
                    }
                }
            }
        )
    )
    monkeypatch.setenv("AGENCY_CONFIG_FILE", str(config))
    broker = CountingBroker()
    monkeypatch.setattr("services.acks.app.make_broker", lambda *_a, **_k: broker)
    monkeypatch.setattr("services.intake.app.make_broker", lambda *_a, **_k: broker)
    if request.param == "starting_up":
        monkeypatch.setattr("services.acks.app.make_engine", _starting_up_engine)
        monkeypatch.setattr("services.intake.app.make_engine", _starting_up_engine)
    yield request.param


def _assert_503(response: Any) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert "database is unavailable" in body["error"] and "again" in body["what_to_do"]


def test_acks_answers_503_with_retry_after_when_the_database_is_down(outage: str) -> None:
    from services.acks.app import create_app

    with TestClient(create_app(), raise_server_exceptions=False) as client:
        _wait_ready(client)
        body = json.dumps({"notification_id": "ntf_x", "agency_id": "pd-hartford", "acknowledged_by": "b-1"}).encode()
        signed = sign_headers([SECRET], "wh-outage-1", body) | {"content-type": "application/json"}
        _assert_503(client.post("/v1/acks", content=body, headers=signed))

        token = make_token(DEV_LINK_SECRET, "ntf_x", "pd-hartford", datetime.now(UTC) + timedelta(hours=1))
        assert client.get(f"/v1/acks/link/{token}").status_code == 200  # the page needs no database
        confirmed = client.post(
            f"/v1/acks/link/{token}",
            content=f"token={token}",
            headers={
                "content-type": "application/x-www-form-urlencoded",
                "origin": "http://testserver",
                "sec-fetch-site": "same-origin",
            },
        )
        _assert_503(confirmed)


def test_intake_never_answers_500_when_the_database_is_down(outage: str) -> None:
    from services.intake.app import create_app

    settings = IntakeSettings(consume_inbound_topic=False, database_timeout_seconds=2.0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        _wait_ready(client)
        _assert_503(client.get("/v1/reports/CL-OUTAGE-1"))
        _assert_503(client.get("/v1/reports/CL-OUTAGE-1/timeline"))
        report = sample_report("CL-OUTAGE-2", "Hartford")
        report["received_at"] = datetime.now(UTC).isoformat()
        accepted = client.post("/v1/reports", json=report)
        assert accepted.status_code == 202, accepted.text  # Kafka has it: accepted without the database


@pytest.mark.parametrize(
    ("error", "outage"),
    [
        (ConnectionRefusedError(111, "Connect call failed"), True),
        (TimeoutError(), True),
        (OperationalError("SELECT 1", {}, asyncpg.CannotConnectNowError("starting up")), True),
        (DataError("INSERT", {}, ValueError("value too long")), False),
        (IntegrityError("INSERT", {}, ValueError("duplicate key")), False),
        (ValueError("a bug"), False),
    ],
)
def test_only_an_unreachable_database_is_an_outage(error: BaseException, outage: bool) -> None:
    assert is_database_outage(error) is outage


class _AdaptedError(Exception):
    """What SQLAlchemy's asyncpg adapter puts in DBAPIError.orig: the driver's SQLSTATE on `sqlstate`."""

    def __init__(self, sqlstate: str) -> None:
        super().__init__("driver error")
        self.sqlstate = sqlstate


@pytest.mark.parametrize(
    ("sqlstate", "outage", "transient"),
    [
        ("22001", False, False),  # value too long: asyncpg raises it as a plain DBAPIError
        ("23503", False, False),  # foreign key
        ("42P01", False, False),  # no such table
        ("57P03", True, True),  # cannot connect now (starting up)
        ("08006", True, True),  # connection failure
        ("40001", False, True),  # serialization failure: retry, but not "the database is down"
    ],
)
def test_the_sqlstate_decides_outage_and_poison(sqlstate: str, outage: bool, transient: bool) -> None:
    from sqlalchemy.exc import DBAPIError

    from shared.consuming import is_transient

    error = DBAPIError("INSERT ...", {}, _AdaptedError(sqlstate))
    assert is_database_outage(error) is outage
    assert is_transient(error) is transient
