"""The ops dashboard on the real pipeline: authentication, live state from Kafka and the database, one
report's page, and a redrive recorded in the audit trail with who did it."""

import uuid

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from shared.store.models import AuditEventRecord
from tests.helpers import eventually

pytestmark = pytest.mark.integration


async def test_every_ops_route_refuses_without_credentials(pipeline: Pipeline) -> None:
    async with httpx.AsyncClient(base_url=pipeline.url("ops"), timeout=30) as client:
        paths = ("/", "/api/state", "/api/summary", "/api/reports/x", "/reports/x", "/static/dashboard.js")
        for path in (*paths, "/api/notifications", "/api/agencies?kind=fbi", "/api/charts", "/static/common.js"):
            response = await client.get(path)
            assert response.status_code == 401, path
            assert response.headers["www-authenticate"].startswith("Basic")
        assert (await client.post("/api/redrive", json={"agency_id": "x"})).status_code == 401
        assert (await client.get("/", auth=("ops", "wrong-password"))).status_code == 401
        assert (await client.get("/healthz")).status_code == 200  # probes stay open


async def test_dashboard_state_shows_health_lag_and_a_report_through_to_acknowledgement(pipeline: Pipeline) -> None:
    report_id = f"CL-OPS-{uuid.uuid4().hex[:6].upper()}"
    async with httpx.AsyncClient(timeout=30) as client:
        assert (
            await client.post(f"{pipeline.url('intake')}/v1/reports", json=sample_report(report_id, "Bristol"))
        ).status_code == 202
        ops = httpx.AsyncClient(base_url=pipeline.url("ops"), auth=pipeline.ops_credentials, timeout=30)
        async with ops:
            assert "Careline DMST pipeline" in (await ops.get("/")).text

            async def acknowledged() -> bool:
                response = await ops.get(f"/api/reports/{report_id}")
                return response.status_code == 200 and all(
                    r["state"] == "acknowledged" for r in response.json()["recipients"]
                )

            assert await eventually(acknowledged, timeout=120)
            one = (await ops.get(f"/api/reports/{report_id}")).json()
            events = [e["event"] for e in one["timeline"]]
            # "submitted" (which client posted it, issue 12) is recorded at the instant it was accepted
            assert events[:4] == ["received", "accepted", "submitted", "routed"] and "acknowledged" in events
            created = [e for e in one["timeline"] if e["event"] == "notification_created"]
            assert created and all(e["detail"].startswith("deadline ") for e in created)  # no routing reason, no town
            assert all(e["actor"] is None for e in one["timeline"] if e["event"] == "acknowledged")  # staff unnamed
            assert {r["recipient_kind"] for r in one["recipients"]} >= {"hart", "fbi", "police", "mdt"}

            async def lag_seen() -> bool:
                state = (await ops.get("/api/state")).json()
                return any(group.startswith("notifier-") for group in state["lag"]["groups"])

            assert await eventually(lag_seen, timeout=60)
            state = (await ops.get("/api/state")).json()
            assert set(state["health"]) >= {"intake", "router", "acks", "notifier", "recipient-sim"}
            assert set(state["health"].values()) == {"up"}
            assert state["reports"]["acknowledged"] >= 1
            assert any(k["acknowledged"] >= 1 and k["ack_p50_seconds"] is not None for k in state["kinds"])
            partition = state["lag"]["partitions"][0]
            assert partition["lag"] == partition["log_end"] - partition["committed"]
            assert state["lag"]["groups"][partition["group"]] >= partition["lag"]
            assert state["urgent"] == [] and state["problems"]["deadlines_at_risk"] == 0

            clocks = (await ops.get("/api/notifications", params={"q": report_id, "due": "any"})).json()
            assert clocks["total"] == 0  # all acknowledged: nothing left on the clock list
            assert (await ops.get("/api/notifications", params={"limit": 0})).status_code == 422
            assert (await ops.get("/api/notifications", params={"state": "bogus"})).status_code == 422
            drill = (await ops.get("/api/agencies", params={"kind": "hart"})).json()
            assert drill["agencies"] and all(a["recipient_kind"] == "hart" for a in drill["agencies"])
            charts = (await ops.get("/api/charts")).json()
            assert sum(charts["reports"]) >= 1 and sum(charts["notifications"]) >= 4
            assert charts["latency"]["kinds"]["all"]["deliver_p50"]
            metrics = (await client.get(f"{pipeline.url('ops')}/metrics")).text
            assert "ops_consumer_group_lag_messages{" in metrics


async def test_redrive_of_nothing_is_refused_and_an_action_is_audited(pipeline: Pipeline, db: AsyncEngine) -> None:
    agency = f"test-agency-{uuid.uuid4().hex[:6]}"
    async with httpx.AsyncClient(base_url=pipeline.url("ops"), auth=pipeline.ops_credentials, timeout=60) as ops:
        assert (await ops.post("/api/redrive", json={})).status_code == 422
        assert (await ops.post("/api/redrive", json={"agency_id": agency})).json() == {"redriven": []}
        assert (await ops.post(f"/api/endpoints/{agency}/enable")).status_code == 200
    async with db.connect() as conn:
        rows = (await conn.execute(select(AuditEventRecord).where(AuditEventRecord.agency_id == agency))).all()
    assert [(r.event, r.actor) for r in rows] == [("ops_endpoint_enabled", "ops:ops")]
