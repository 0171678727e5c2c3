"""A recipient down long enough to exhaust its retries: its notifications are dead-lettered, never lost;
once it is back, one command delivers them all, exactly once in the database."""

import uuid

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from tests.fault.harness import ops_command
from tests.helpers import eventually, notification_rows

pytestmark = pytest.mark.fault

AGENCY = "fbi-new-haven"


async def test_dead_letters_are_redriven_once_the_recipient_is_back(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    sim = fault_pipeline.url("recipient-sim")
    tag = uuid.uuid4().hex[:6].upper()
    reports = [sample_report(f"CL-RD-{tag}-{i}", "Hartford") for i in range(5)]
    ids = [r["careline_report_id"] for r in reports]
    async with httpx.AsyncClient(timeout=30) as client:
        await client.post(f"{sim}/control/failures", json={"agency_id": AGENCY, "mode": "503"})
        for report in reports:
            assert (await client.post(f"{fault_pipeline.url('intake')}/v1/reports", json=report)).status_code == 202

        async def fbi_states() -> list[str]:
            return [r.state for r in await notification_rows(fault_db, ids) if r.agency_id == AGENCY]

        async def all_dead() -> bool:
            return await fbi_states() == ["dead_lettered"] * 5

        assert await eventually(all_dead, timeout=120), await fbi_states()
        listing = ops_command(fault_pipeline, "list")
        print(f"\n{listing}")
        assert "5 dead-lettered notification(s)" in listing

        await client.post(f"{sim}/control/failures", json={"agency_id": AGENCY, "mode": "ok"})
        output = ops_command(fault_pipeline, "redrive", "--agency", AGENCY)
        print(output)
        assert "redriven 5 notification(s)" in output

        async def all_delivered() -> bool:
            rows = [r for r in await notification_rows(fault_db, ids) if r.agency_id == AGENCY]
            return all(r.delivered_at is not None for r in rows) and len(rows) == 5

        assert await eventually(all_delivered, timeout=90), await fbi_states()
        assert "nothing to redrive" in ops_command(fault_pipeline, "redrive", "--all")

        rows = await notification_rows(fault_db, ids)
        receipts = (await client.get(f"{sim}/receipts")).json()["notifications"]
        fbi = [r for r in rows if r.agency_id == AGENCY]
        print(
            f"fbi notifications: {len(fbi)}, attempts each: {sorted(r.attempts for r in fbi)}, "
            f"receipts each: {sorted(receipts[r.notification_id]['receipts'] for r in fbi)}"
        )
        assert all(receipts[r.notification_id]["receipts"] == 1 for r in fbi)
        assert all(r.attempts == 5 for r in fbi)  # 4 failed attempts, then the redriven one
        others = [r for r in rows if r.agency_id != AGENCY]
        assert len(others) >= 15 and all(r.delivered_at is not None for r in others)  # 3+ other kinds x 5
