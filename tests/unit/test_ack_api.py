"""POST /v1/acks and the one-click link against SQLite, with Kafka replaced by a recording fake.

Covers what the issue asks of acknowledgements: rotation (two secrets valid), stale/forged/replayed
requests refused with a clear 4xx, a repeat with a new webhook-id says already_acknowledged and changes
nothing, the link records the acknowledgement once and refuses forged or expired tokens.
"""

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from shared.acklinks import DEV_LINK_SECRET, make_token
from shared.signing import derive_dev_secret, sign_headers
from shared.store.engine import make_engine
from shared.store.migrate import upgrade
from shared.store.models import AcknowledgementRecord, AuditEventRecord, EscalationTimerRecord, NotificationRecord

OLD = derive_dev_secret("unit", "ack", "pd-hartford")
NEW = derive_dev_secret("unit", "ack-rotated", "pd-hartford")
NOW = datetime.now(UTC)  # for stored rows only; signatures and tokens take the time of the call


class FakeBroker:
    def __init__(self) -> None:
        self.published: list[tuple[str, bytes]] = []

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def publish(self, body: bytes, topic: str, **_: Any) -> None:
        self.published.append((topic, body))


async def _seed(url: str, ids: list[str]) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            NotificationRecord.metadata.tables["reports"].insert(),
            [
                {
                    "report_id": "CL-UNIT-1",
                    "received_at": NOW,
                    "accepted_at": NOW,
                    "content_sha256": "0" * 64,
                    "classification": "dmst",
                    "policy_version": "2026-11-23.1",
                    "notification_count": len(ids),
                    "first_routed_at": NOW,
                    "duplicates_received": 0,
                }
            ],
        )
        for nid in ids:
            await conn.execute(
                NotificationRecord.__table__.insert(),
                {
                    "notification_id": nid,
                    "report_id": "CL-UNIT-1",
                    "recipient_kind": "police",
                    "agency_id": "pd-hartford",
                    "agency_name": "Hartford PD",
                    "reason": "unit",
                    "fallback": False,
                    "state": "delivered",
                    "created_at": NOW,
                    "deadline_at": NOW + timedelta(hours=12),
                    "attempts": 1,
                },
            )
            await conn.execute(
                EscalationTimerRecord.__table__.insert(),
                {
                    "notification_id": nid,
                    "step": 0,
                    "action": "renotify",
                    "target_agency_id": "pd-hartford",
                    "due_at": NOW + timedelta(minutes=15),
                },
            )
    await engine.dispose()


async def _scalar(url: str, query: Any) -> Any:
    engine = make_engine(url)
    async with engine.connect() as conn:
        value = await conn.scalar(query)
    await engine.dispose()
    return value


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[TestClient, FakeBroker, str]]:
    tmp: Path = tmp_path_factory.mktemp("acks")
    url = f"sqlite+aiosqlite:///{tmp / 'acks.db'}"
    upgrade(url)
    asyncio.run(_seed(url, ["ntf_a", "ntf_b", "ntf_c", "ntf_d"]))
    config = tmp / "agencies.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "agencies": {
                    "pd-hartford": {
                        "webhook_url": "http://127.0.0.1:1/x",
                        "webhook_secrets": [OLD],
                        "ack_secrets": [OLD, NEW],  # mid-rotation: both valid
                    },
                    "pd-other": {"webhook_url": "http://127.0.0.1:1/y", "webhook_secrets": [OLD], "ack_secrets": [OLD]},
                }
            }
        )
    )
    broker = FakeBroker()
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", url)
    mp.setenv("AGENCY_CONFIG_FILE", str(config))
    mp.setattr("services.acks.app.make_broker", lambda *_a, **_k: broker)
    from services.acks.app import create_app

    with TestClient(create_app()) as client:
        deadline = time.monotonic() + 10
        while client.get("/healthz").status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        yield client, broker, url
    mp.undo()


def _post(
    client: TestClient,
    nid: str,
    secret: str,
    webhook_id: str,
    *,
    agency: str = "pd-hartford",
    at: datetime | None = None,
) -> Any:
    body = json.dumps(
        {"notification_id": nid, "agency_id": agency, "acknowledged_by": "badge-1234", "note": "on it"}
    ).encode()
    headers = sign_headers([secret], webhook_id, body, at) | {"content-type": "application/json"}
    return client.post("/v1/acks", content=body, headers=headers)


def test_either_secret_is_accepted_during_rotation(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, broker, url = env
    assert _post(client, "ntf_a", OLD, "wh-old").json()["status"] == "recorded"
    assert _post(client, "ntf_b", NEW, "wh-new").json()["status"] == "recorded"
    assert sum(topic == "acknowledgements.v1" for topic, _ in broker.published) == 2
    cancelled = (
        select(func.count()).select_from(EscalationTimerRecord).where(EscalationTimerRecord.cancelled_at.is_not(None))
    )
    assert asyncio.run(_scalar(url, cancelled)) == 2  # an acknowledgement cancels pending escalations
    met = select(func.count()).select_from(AuditEventRecord).where(AuditEventRecord.event == "deadline_met")
    assert asyncio.run(_scalar(url, met)) == 2


def test_replayed_webhook_id_is_refused_and_a_new_one_changes_nothing(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, broker, url = env
    assert _post(client, "ntf_c", OLD, "wh-c1").status_code == 200
    before = len(broker.published)
    replay = _post(client, "ntf_c", OLD, "wh-c1")
    assert replay.status_code == 409 and "replayed" in replay.json()["error"]
    again = _post(client, "ntf_c", NEW, "wh-c2")
    assert again.status_code == 200 and again.json()["status"] == "already_acknowledged"
    assert len(broker.published) == before  # nothing published for a repeat
    rows = (
        select(func.count()).select_from(AcknowledgementRecord).where(AcknowledgementRecord.notification_id == "ntf_c")
    )
    assert asyncio.run(_scalar(url, rows)) == 1
    by = select(AcknowledgementRecord.acknowledged_by).where(AcknowledgementRecord.notification_id == "ntf_c")
    assert asyncio.run(_scalar(url, by)) == "badge-1234"


@pytest.mark.parametrize(
    ("nid", "secret", "agency", "age", "status"),
    [
        ("ntf_d", derive_dev_secret("other", "ack", "pd-hartford"), "pd-hartford", 0, 401),  # forged
        ("ntf_d", OLD, "pd-hartford", 6 * 60, 401),  # stale: outside the 5-minute tolerance
        ("ntf_d", OLD, "pd-other", 0, 403),  # signed by another agency
        ("ntf_missing", OLD, "pd-hartford", 0, 404),
    ],
)
def test_bad_acknowledgements_are_refused(
    env: tuple[TestClient, FakeBroker, str], nid: str, secret: str, agency: str, age: int, status: int
) -> None:
    client, _, _ = env
    response = _post(
        client, nid, secret, f"wh-bad-{status}-{age}", agency=agency, at=datetime.now(UTC) - timedelta(seconds=age)
    )
    assert response.status_code == status
    assert "error" in response.json()


def test_one_click_link_records_once_and_refuses_forged_or_expired(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, _, url = env
    future = datetime.now(UTC) + timedelta(hours=1)
    token = make_token(DEV_LINK_SECRET, "ntf_d", "pd-hartford", future)
    assert client.get(f"/v1/acks/link/{make_token('wrong', 'ntf_d', 'pd-hartford', future)}").status_code == 403
    assert client.get(f"/v1/acks/link/{token[:-2]}xx").status_code == 403
    expired = make_token(DEV_LINK_SECRET, "ntf_d", "pd-hartford", datetime.now(UTC) - timedelta(seconds=1))
    assert client.get(f"/v1/acks/link/{expired}").status_code == 410
    assert client.get(f"/v1/acks/link/{token}").json()["status"] == "recorded"
    assert client.get(f"/v1/acks/link/{token}").json()["status"] == "already_acknowledged"
    by = select(AcknowledgementRecord.acknowledged_by).where(AcknowledgementRecord.notification_id == "ntf_d")
    assert asyncio.run(_scalar(url, by)) == "one-click link"
