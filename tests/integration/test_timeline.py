"""A report's timeline on the shared pipeline: every step in order, exported as CSV, no personal data."""

import csv
import io
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from services.compliance.export import timelines_between, to_csv
from shared.store.engine import make_session_factory
from tests.helpers import delivery_summary, eventually, expected_notifications

pytestmark = pytest.mark.integration


async def test_timeline_lists_every_step_in_order_and_exports_as_csv(pipeline: Pipeline, db: AsyncEngine) -> None:
    report = sample_report(f"CL-TL-{uuid.uuid4().hex[:6].upper()}", "New Haven")
    rid = report["careline_report_id"]
    want = expected_notifications(report)
    intake = pipeline.url("intake")
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(f"{intake}/v1/reports", json=report)).status_code == 202

        async def acknowledged() -> bool:
            return (await delivery_summary(db, [rid]))["acknowledged"] == want

        assert await eventually(acknowledged, timeout=180)
        steps = (await client.get(f"{intake}/v1/reports/{rid}/timeline")).json()["steps"]
        assert (await client.get(f"{intake}/v1/reports/CL-NOPE-0000/timeline")).status_code == 404
        status = (await client.get(f"{intake}/v1/reports/{rid}")).json()
    events = [s["event"] for s in steps]
    # "submitted": which client posted it, recorded at the instant it was accepted (issue 12)
    assert events[:4] == ["received", "accepted", "submitted", "routed"]
    assert [s["at"] for s in steps] == sorted(s["at"] for s in steps)
    for event in ("notification_created", "delivery_attempt", "delivered", "acknowledged", "deadline_met"):
        assert events.count(event) >= want, event
    for nid in {s["notification_id"] for s in steps if s["notification_id"]}:
        mine = [s["event"] for s in steps if s["notification_id"] == nid]
        assert mine.index("notification_created") < mine.index("delivered") < mine.index("acknowledged")
    assert all(r["clock"] == "met" and r["acknowledged_at"] for r in status["recipients"])
    assert all("acknowledged_by" not in r and "reason" not in r for r in status["recipients"])  # issue 12
    assert all(set(s) == {"at", "event", "report_id", "notification_id", "agency_id", "recipient_kind"} for s in steps)
    assert status["seconds_since_receipt"] >= 0 and status["deadlines_missed"] == 0

    now = datetime.now(UTC)
    exported = to_csv(await timelines_between(make_session_factory(db), now - timedelta(hours=1), now))
    rows = [r for r in csv.DictReader(io.StringIO(exported)) if r["report_id"] == rid]
    assert [r["event"] for r in rows] == events
    for secret in (report["child"]["first_name"], report["reporter"]["name"], report["narrative"][:20]):
        assert secret not in exported
