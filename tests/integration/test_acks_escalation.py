"""Acknowledgements and escalation on real Kafka and PostgreSQL, every service a process.

A module pipeline with its own database and a short-SLA copy of the policy (one policy minute lasts one
second here): the police of Hartford receive but never acknowledge, so they are re-notified and then
escalated along the chain (State Police HQ, HART Lead, DCF Careline on-call supervisor) at the configured
times; the escalator is SIGKILLed mid-chain and nothing is lost or fired twice; forged, replayed and stale
acknowledgements are refused; the report's timeline and a compliance report are printed (pytest -s).
"""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from devtools.runner.samples import sample_report
from services.compliance.report import compliance_report, render
from shared.acklinks import AckLinkSettings, link_for
from shared.directory.endpoints import EndpointRegistry
from shared.events import CarelineReport, RecipientKind
from shared.events.notification import notification_id_for
from shared.policy.loader import DEFAULT_POLICY
from shared.signing import derive_dev_secret, sign_headers
from shared.store.engine import make_engine, make_session_factory
from shared.store.models import AcknowledgementRecord, AuditEventRecord, EscalationTimerRecord, NotificationRecord
from tests.helpers import eventually
from tests.unit.routing_support import agencies, routed

pytestmark = pytest.mark.integration

TOWN = "Hartford"
SILENT = agencies(routed(CarelineReport.model_validate(sample_report("CL-X-0001", TOWN))), "police")[0]
# policy minutes (= seconds here): re-notify at the SLA, then the chain
SLA = 5
CHAIN = [(10, "csp-hq"), (15, "hart-lead"), (20, "careline-supervisor")]
TOLERANCE = timedelta(seconds=8)  # poll interval plus a loaded, shared CPU


def _short_policy(path: Path) -> Path:
    policy = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    for kind in policy["recipient_kinds"].values():
        kind["ack_sla_minutes"] = SLA
        kind["escalation"] = [{"after_minutes": m, "to": to} for m, to in CHAIN]
    path.write_text(yaml.safe_dump(policy, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def esc_database_url(postgres: PostgresHandle) -> str:
    return postgres.create_database("acks_escalation")


@pytest.fixture(scope="module")
def esc_pipeline(own_broker: KafkaHandle, esc_database_url: str, work_dir: Path) -> Iterator[Pipeline]:
    root = work_dir / "acks-escalation"
    root.mkdir(parents=True, exist_ok=True)
    policy = str(_short_policy(root / "policy-short-sla.yaml"))
    config = PipelineConfig(
        own_broker.bootstrap_servers,
        esc_database_url,
        root,
        ack_delay_seconds=0.2,
        environment="test",
        notifier_retry_schedule="[1, 1]",
        extra_env={
            "ROUTER_POLICY_FILE": policy,
            "ESCALATOR_POLICY_FILE": policy,
            "ESCALATION_MINUTE_SECONDS": "1",
            "ESCALATOR_POLL_SECONDS": "0.5",
            "SIM_NEVER_ACK": SILENT,
        },
    )
    running = Pipeline(config)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def esc_db(esc_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(esc_database_url, pre_ping=True)
    yield engine
    await engine.dispose()


def _report(tag: str, deadline_in: timedelta | None = None) -> dict[str, Any]:
    report = sample_report(f"CL-ESC-{tag}-{uuid.uuid4().hex[:6].upper()}", TOWN)
    if deadline_in is not None:  # received long enough ago that the 12 h state clock runs out soon
        report["received_at"] = (datetime.now(UTC) - timedelta(hours=12) + deadline_in).isoformat()
    return report


async def _post(pipeline: Pipeline, report: dict[str, Any]) -> str:
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(f"{pipeline.url('intake')}/v1/reports", json=report)
        assert response.status_code == 202, response.text
    return str(report["careline_report_id"])


async def _timers(db: AsyncEngine, nid: str) -> list[Any]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(EscalationTimerRecord)
            .where(EscalationTimerRecord.notification_id == nid)
            .order_by(EscalationTimerRecord.step)
        )
        return list(rows.all())


async def _audit(db: AsyncEngine, report_id: str) -> list[Any]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(AuditEventRecord).where(AuditEventRecord.report_id == report_id).order_by(AuditEventRecord.id)
        )
        return list(rows.all())


async def _chain_fired(db: AsyncEngine, nid: str, steps: int = 1 + len(CHAIN)) -> bool:
    timers = await _timers(db, nid)
    return sum(t.fired_at is not None for t in timers if t.step < 99) == steps


async def _receipts(pipeline: Pipeline) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=30) as client:
        notifications: dict[str, Any] = (await client.get(f"{pipeline.url('recipient-sim')}/receipts")).json()[
            "notifications"
        ]
        return notifications


async def _check_chain(pipeline: Pipeline, db: AsyncEngine, report_id: str, nid: str, *, on_time: bool = True) -> None:
    """Every step fired once, in order, at its due time (late only while the escalator was down);
    each escalation notice delivered exactly once."""
    timers = await _timers(db, nid)
    fired = [t for t in timers if t.step < 99]
    assert [(t.step, t.action, t.target_agency_id) for t in fired] == [
        (0, "renotify", SILENT),
        *[(i, "escalate", to) for i, (_, to) in enumerate(CHAIN, start=1)],
    ]
    for t in fired:
        assert t.due_at <= t.fired_at, (t.step, t.due_at, t.fired_at)
        assert t.fired_at <= t.due_at + TOLERANCE or not on_time, (t.step, t.due_at, t.fired_at)
    assert [t.fired_at for t in fired] == sorted(t.fired_at for t in fired)
    audit = [a for a in await _audit(db, report_id) if a.notification_id == nid]
    events = [a.event for a in audit if a.event in ("renotified", "escalated")]
    assert events == ["renotified"] + ["escalated"] * len(CHAIN)
    async with db.connect() as conn:
        notices = list(
            (
                await conn.execute(
                    select(NotificationRecord).where(
                        NotificationRecord.report_id == report_id, NotificationRecord.notification_id.like("esc_%")
                    )
                )
            ).all()
        )
    assert sorted(n.agency_id for n in notices) == sorted([SILENT, *(to for _, to in CHAIN)])

    async def all_delivered() -> bool:
        receipts = await _receipts(pipeline)
        return all(n.notification_id in receipts for n in notices)

    assert await eventually(all_delivered, timeout=120)
    receipts = await _receipts(pipeline)
    assert all(receipts[n.notification_id]["receipts"] == 1 for n in notices)


async def test_silent_recipient_is_renotified_then_escalated_and_its_deadline_missed(
    esc_pipeline: Pipeline, esc_db: AsyncEngine
) -> None:
    report_id = await _post(esc_pipeline, _report("CHAIN", deadline_in=timedelta(seconds=40)))
    nid = notification_id_for(report_id, RecipientKind.POLICE, SILENT)
    intake = esc_pipeline.url("intake")
    async with httpx.AsyncClient(timeout=30) as client:

        async def police_status() -> dict[str, Any] | None:
            response = await client.get(f"{intake}/v1/reports/{report_id}")
            if response.status_code != 200:
                return None
            return next(r for r in response.json()["recipients"] if r["notification_id"] == nid)

        async def at_risk() -> bool:
            status = await police_status()
            return bool(status and status["at_risk"])

        assert await eventually(at_risk, timeout=90)
        assert await eventually(lambda: _chain_fired(esc_db, nid), timeout=150)
        await _check_chain(esc_pipeline, esc_db, report_id, nid)

        async def missed() -> bool:
            return any(
                a.event == "deadline_missed" and a.notification_id == nid for a in await _audit(esc_db, report_id)
            )

        assert await eventually(missed, timeout=120)
        status = (await client.get(f"{intake}/v1/reports/{report_id}")).json()
        police = next(r for r in status["recipients"] if r["notification_id"] == nid)
        assert police["clock"] == "missed" and police["deadline_missed"] and status["deadlines_missed"] >= 1
        assert [e["event"] for e in police["escalations"]] == ["renotified"] + ["escalated"] * len(CHAIN) + [
            "deadline_missed"
        ]
        acknowledged = [r for r in status["recipients"] if r["acknowledged_at"]]
        assert acknowledged and all(r["clock"] in ("met", "missed") for r in acknowledged)

        timeline = (await client.get(f"{intake}/v1/reports/{report_id}/timeline")).json()["steps"]
    assert [s["at"] for s in timeline] == sorted(s["at"] for s in timeline)
    seen = {s["event"] for s in timeline}
    for event in ["received", "accepted", "routed", "notification_created", "delivery_attempt", "delivered",
                  "acknowledged", "deadline_met", "renotified", "escalated", "deadline_missed"]:  # fmt: skip
        assert event in seen, event
    text = json.dumps(timeline)
    assert "Reporter-" not in text and "Alleged-" not in text and "Synthetic narrative" not in text
    print(f"\nTimeline of {report_id}:")
    for s in timeline:
        print(  # intake serves ids, events and times only (issue 12): no actor, no detail
            f"  {s['at'][11:23]}  {s['event']:<21} {s['agency_id'] or '':<20} {(s['notification_id'] or '')[:12]:<12}"
        )


async def test_escalation_survives_a_sigkill_of_the_escalator(esc_pipeline: Pipeline, esc_db: AsyncEngine) -> None:
    report_id = await _post(esc_pipeline, _report("RESTART"))
    nid = notification_id_for(report_id, RecipientKind.POLICE, SILENT)
    assert await eventually(lambda: _chain_fired(esc_db, nid, steps=1), timeout=120)
    escalator = esc_pipeline.services["escalator"]
    escalator.kill()
    timers = await _timers(esc_db, nid)
    last_due = max(t.due_at for t in timers if t.step < 99)
    # down across two due times: nothing fires while it is dead
    await asyncio.sleep(max(0.0, (timers[2].due_at + timedelta(seconds=2) - datetime.now(UTC)).total_seconds()))
    fired_while_down = sum(t.fired_at is not None for t in await _timers(esc_db, nid))
    escalator.start()
    escalator.wait_healthy(90)
    assert await eventually(lambda: _chain_fired(esc_db, nid), timeout=150)
    assert fired_while_down <= 2  # step 0, and at most one in flight at the kill
    restarted = [t for t in await _timers(esc_db, nid) if t.step < 99]
    assert all(t.fired_at >= t.due_at for t in restarted)
    assert max(t.due_at for t in restarted) == last_due
    await _check_chain(esc_pipeline, esc_db, report_id, nid, on_time=False)


async def test_forged_replayed_and_stale_acknowledgements_are_refused(
    esc_pipeline: Pipeline, esc_db: AsyncEngine
) -> None:
    report_id = await _post(esc_pipeline, _report("ACK"))
    nid = notification_id_for(report_id, RecipientKind.POLICE, SILENT)

    async def scheduled() -> bool:
        return len(await _timers(esc_db, nid)) == 2 + len(CHAIN)

    assert await eventually(scheduled, timeout=120)
    secrets = EndpointRegistry().get(SILENT).ack_secrets
    body = json.dumps({"notification_id": nid, "agency_id": SILENT, "acknowledged_by": "badge-7"}).encode()
    url = f"{esc_pipeline.url('acks')}/v1/acks"

    def signed(secret_list: tuple[str, ...], webhook_id: str, at: datetime | None = None) -> dict[str, str]:
        return sign_headers(secret_list, webhook_id, body, at) | {"content-type": "application/json"}

    async with httpx.AsyncClient(timeout=30) as client:
        forged = await client.post(url, content=body, headers=signed((derive_dev_secret("x", "ack", SILENT),), "w1"))
        stale = await client.post(
            url, content=body, headers=signed(secrets, "w2", datetime.now(UTC) - timedelta(minutes=6))
        )
        assert (forged.status_code, stale.status_code) == (401, 401)
        good = await client.post(url, content=body, headers=signed(secrets, "w3"))
        assert good.status_code == 200 and good.json()["status"] == "recorded", good.text
        replay = await client.post(url, content=body, headers=signed(secrets, "w3"))
        assert replay.status_code == 409
        repeat = await client.post(url, content=body, headers=signed(secrets, "w4"))
        assert repeat.json()["status"] == "already_acknowledged"
    timers = await _timers(esc_db, nid)
    assert all(t.cancelled_at is not None or t.fired_at is not None for t in timers)
    assert any(t.cancelled_at is not None for t in timers)


async def test_one_click_link_acknowledges_and_stops_the_chain(esc_pipeline: Pipeline, esc_db: AsyncEngine) -> None:
    report_id = await _post(esc_pipeline, _report("LINK"))
    nid = notification_id_for(report_id, RecipientKind.POLICE, SILENT)

    async def routed_row() -> bool:
        async with esc_db.connect() as conn:
            return bool(
                await conn.scalar(
                    select(NotificationRecord.deadline_at).where(NotificationRecord.notification_id == nid)
                )
            )

    assert await eventually(routed_row, timeout=120)
    async with esc_db.connect() as conn:
        deadline = await conn.scalar(
            select(NotificationRecord.deadline_at).where(NotificationRecord.notification_id == nid)
        )
    links = AckLinkSettings(base_url=esc_pipeline.url("acks"))
    link = link_for(links, nid, SILENT, deadline)
    form = {"token": link.rsplit("/", 1)[1]}
    same_origin = {"origin": esc_pipeline.url("acks"), "sec-fetch-site": "same-origin"}
    async with httpx.AsyncClient(timeout=30) as client:
        page = await client.get(link)  # opening the link only shows the confirmation page (issue 12)
        assert page.status_code == 200 and '<form method="post">' in page.text
        first = await client.post(link, data=form, headers=same_origin)
        second = await client.post(link, data=form, headers=same_origin)
        assert (first.json()["status"], second.json()["status"]) == ("recorded", "already_acknowledged")
        status = (await client.get(f"{esc_pipeline.url('intake')}/v1/reports/{report_id}")).json()
    police = next(r for r in status["recipients"] if r["notification_id"] == nid)
    assert police["clock"] == "met" and "acknowledged_by" not in police  # intake reads: ids, states, times
    async with esc_db.connect() as conn:
        by = await conn.scalar(
            select(AcknowledgementRecord.acknowledged_by).where(AcknowledgementRecord.notification_id == nid)
        )
    assert by == "one-click link"


async def test_compliance_report_for_the_period(esc_pipeline: Pipeline, esc_db: AsyncEngine) -> None:
    now = datetime.now(UTC)
    report = await compliance_report(make_session_factory(esc_db), now - timedelta(days=1), now + timedelta(minutes=1))
    assert report.reports >= 3 and any(r["agency_id"] == SILENT for r in report.referrals_per_agency)
    assert report.deadlines_missed.get("police", 0) >= 1
    assert report.escalations.get("escalated", 0) >= len(CHAIN)
    print("\n" + render(report))
