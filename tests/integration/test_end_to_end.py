"""The walking skeleton's promise, on real Kafka and PostgreSQL with every service as a process."""

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import all_town_names, sample_report
from tests.helpers import delivery_summary, eventually, expected_notifications, notification_rows, post_reports

pytestmark = pytest.mark.integration


def run_tag() -> str:
    return uuid.uuid4().hex[:6].upper()


async def test_100_reports_for_100_towns_are_delivered_and_acknowledged(pipeline: Pipeline, db: AsyncEngine) -> None:
    tag = run_tag()
    towns = all_town_names()[:100]
    reports = [sample_report(f"CL-E2E-{tag}-{i:03d}", town) for i, town in enumerate(towns)]
    ids = [r["careline_report_id"] for r in reports]
    total = sum(expected_notifications(r) for r in reports)
    assert total >= 500  # HART Lead, regional liaison, FBI, police and MDT at least, for each report
    async with httpx.AsyncClient(timeout=30) as client:
        statuses = await post_reports(client, pipeline.url("intake"), reports)
        assert statuses == [202] * 100

        async def all_acknowledged() -> bool:
            s = await delivery_summary(db, ids)
            return s["acknowledged"] == total and s["ack_rows"] == total

        done = await eventually(all_acknowledged, timeout=180)
        summary = await delivery_summary(db, ids)
        print(f"\n100 reports: {summary}")
        assert done, summary
        assert summary["notifications"] == total and summary["delivered"] == total

        receipts = (await client.get(f"{pipeline.url('recipient-sim')}/receipts")).json()
        assert receipts["rejected_signatures"] == {}
        rows = await notification_rows(db, ids)
        # every one of the notifications reached the simulator, which verified its signature
        missing = [r.notification_id for r in rows if r.notification_id not in receipts["notifications"]]
        assert missing == []
        assert all(receipts["notifications"][r.notification_id]["agency_id"] == r.agency_id for r in rows)

        status = (await client.get(f"{pipeline.url('intake')}/v1/reports/{ids[0]}")).json()
        assert {r["recipient_kind"] for r in status["recipients"]} >= {"hart", "fbi", "police", "mdt"}
        assert len(status["recipients"]) == expected_notifications(reports[0])
        assert all(
            r["state"] == "acknowledged" and r["delivered_at"] and r["acknowledged_at"] for r in status["recipients"]
        )


async def test_posting_the_same_report_twice_yields_one_set_of_notifications(
    pipeline: Pipeline, db: AsyncEngine
) -> None:
    report = sample_report(f"CL-DUP-{run_tag()}", "New Haven")
    rid = report["careline_report_id"]
    async with httpx.AsyncClient(timeout=30) as client:
        first = await client.post(f"{pipeline.url('intake')}/v1/reports", json=report)
        again = await client.post(f"{pipeline.url('intake')}/v1/reports", json=report)
        # Intake answers the retry as the first time, and publishes nothing the second time (issue 12).
        assert (first.status_code, again.status_code) == (202, 202) and first.json() == again.json()
        assert again.headers["idempotent-replayed"] == "true"
        want = expected_notifications(report)
        assert await eventually(lambda: _acked(db, rid, want), timeout=60)
        routed = (await client.get(f"{pipeline.url('intake')}/v1/reports/{rid}")).json()
        assert routed["duplicates_received"] == 0  # the router saw one record: no second Kafka record
        summary = await delivery_summary(db, [rid])
        assert summary["notifications"] == want and summary["ack_rows"] == want
        receipts = (await client.get(f"{pipeline.url('recipient-sim')}/receipts")).json()["notifications"]
        status = (await client.get(f"{pipeline.url('intake')}/v1/reports/{rid}")).json()
        for recipient in status["recipients"]:
            assert receipts[recipient["notification_id"]]["receipts"] == 1


async def _acked(db: AsyncEngine, rid: str, want: int) -> bool:
    return (await delivery_summary(db, [rid]))["ack_rows"] == want


async def test_unknown_report_status_is_a_clear_404(pipeline: Pipeline) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.get(f"{pipeline.url('intake')}/v1/reports/CL-NOPE-0000")
    assert response.status_code == 404
    assert "what_to_do" in response.json()
