"""POST /v1/acks and the one-click link against SQLite, with Kafka replaced by a recording fake.

Covers what the issue asks of acknowledgements: rotation (two secrets valid), stale/forged/replayed
requests refused with a clear 4xx, a repeat with a new webhook-id says already_acknowledged and changes
nothing, the link records the acknowledgement once and refuses forged or expired tokens. Issue 12: the
signature is checked before the lookup (an unsigned caller cannot tell which notifications exist), another
agency's notification answers exactly like a missing one, the free-text note is not stored, and opening a
link only shows a confirmation page: its same-origin POST acknowledges.
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


async def _seed_more(url: str, nid: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
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
    asyncio.run(_seed(url, ["ntf_a", "ntf_b", "ntf_c", "ntf_d", "ntf_e"]))
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
        ("ntf_missing", derive_dev_secret("other", "ack", "pd-hartford"), "pd-hartford", 0, 401),  # before lookup
        ("ntf_d", OLD, "pd-unknown-agency", 0, 401),  # no such agency: the same answer as a bad signature
        ("ntf_d", OLD, "pd-other", 0, 404),  # signed by another agency: answered as if it did not exist
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


def test_unsigned_callers_cannot_tell_which_notifications_exist(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, _, _ = env
    forged = derive_dev_secret("other", "ack", "pd-hartford")
    existing = _post(client, "ntf_d", forged, "wh-probe-1")
    missing = _post(client, "ntf_nope", forged, "wh-probe-2")
    unknown_agency = _post(client, "ntf_d", OLD, "wh-probe-3", agency="pd-nobody")
    assert existing.status_code == missing.status_code == unknown_agency.status_code == 401
    assert existing.json() == missing.json() == unknown_agency.json() == {"error": "signature not valid"}
    other = _post(client, "ntf_d", OLD, "wh-probe-4", agency="pd-other")  # pd-other is a real agency
    gone = _post(client, "ntf_gone", OLD, "wh-probe-5", agency="pd-other")
    assert other.status_code == gone.status_code == 404 and other.json() == gone.json()


def test_the_note_is_accepted_but_not_stored(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, _, url = env
    response = _post(client, "ntf_e", OLD, "wh-note")  # the body carries note "on it"
    assert response.status_code == 200 and response.json()["status"] == "recorded"
    assert "not stored" in response.json()["note"]
    note = select(AcknowledgementRecord.note).where(AcknowledgementRecord.notification_id == "ntf_e")
    assert asyncio.run(_scalar(url, note)) is None
    stored = select(func.count()).select_from(AcknowledgementRecord).where(AcknowledgementRecord.note.is_not(None))
    assert asyncio.run(_scalar(url, stored)) == 0  # no acknowledgement anywhere kept its free text


def _confirm(client: TestClient, token: str, headers: dict[str, str] | None = None, form: str | None = None) -> Any:
    same_origin = {"origin": "http://testserver", "sec-fetch-site": "same-origin"}
    return client.post(
        f"/v1/acks/link/{token}",
        content=f"token={token if form is None else form}",
        headers={"content-type": "application/x-www-form-urlencoded", **(same_origin if headers is None else headers)},
    )


def test_one_click_link_records_once_and_refuses_forged_or_expired(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, _, url = env
    future = datetime.now(UTC) + timedelta(hours=1)
    token = make_token(DEV_LINK_SECRET, "ntf_d", "pd-hartford", future)
    forged = make_token("wrong", "ntf_d", "pd-hartford", future)
    assert client.get(f"/v1/acks/link/{forged}").status_code == 403
    assert _confirm(client, forged).status_code == 403
    assert client.get(f"/v1/acks/link/{token[:-2]}xx").status_code == 403
    expired = make_token(DEV_LINK_SECRET, "ntf_d", "pd-hartford", datetime.now(UTC) - timedelta(seconds=1))
    assert client.get(f"/v1/acks/link/{expired}").status_code == 410
    assert _confirm(client, expired).status_code == 410
    assert _confirm(client, token).json()["status"] == "recorded"
    assert _confirm(client, token).json()["status"] == "already_acknowledged"
    by = select(AcknowledgementRecord.acknowledged_by).where(AcknowledgementRecord.notification_id == "ntf_d")
    assert asyncio.run(_scalar(url, by)) == "one-click link"


def test_opening_a_link_only_shows_a_confirmation_page(env: tuple[TestClient, FakeBroker, str]) -> None:
    client, broker, url = env
    token = make_token(DEV_LINK_SECRET, "ntf_c2", "pd-hartford", datetime.now(UTC) + timedelta(hours=1))
    asyncio.run(_seed_more(url, "ntf_c2"))
    before = len(broker.published)
    for _ in range(3):  # a mail scanner, a preview, the person
        page = client.get(f"/v1/acks/link/{token}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        assert '<form method="post">' in page.text and f'name="token" value="{token}"' in page.text
        assert (
            page.headers["referrer-policy"] == "no-referrer"
            and "frame-ancestors 'none'" in page.headers["content-security-policy"]
        )
    rows = (
        select(func.count()).select_from(AcknowledgementRecord).where(AcknowledgementRecord.notification_id == "ntf_c2")
    )
    assert asyncio.run(_scalar(url, rows)) == 0 and len(broker.published) == before  # nothing acknowledged
    cross = {"origin": "https://evil.example", "sec-fetch-site": "cross-site"}
    assert _confirm(client, token, headers=cross).status_code == 403
    assert _confirm(client, token, headers={"sec-fetch-site": "same-site"}).status_code == 403
    assert _confirm(client, token, headers={"origin": "https://evil.example"}).status_code == 403
    assert _confirm(client, token, form="not-the-token").status_code == 403  # the form must carry the token
    assert asyncio.run(_scalar(url, rows)) == 0
    assert _confirm(client, token).json()["status"] == "recorded"
    assert asyncio.run(_scalar(url, rows)) == 1 and len(broker.published) == before + 1
