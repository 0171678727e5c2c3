"""Recipients that fail: 500s, timeouts, 410 Gone, 429 with Retry-After, and one down for a minute.

A failing agency never holds up another agency of the same kind, and every notification ends delivered
(or dead-lettered where the test says so)."""

import asyncio
import signal
import uuid
from datetime import datetime

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import sample_report
from shared.store.models import DeliveryAttemptRecord, EndpointStatusRecord
from tests.fault.harness import ReportStream, drain, ops_command
from tests.helpers import eventually, notification_rows

pytestmark = pytest.mark.fault

PIPELINE_OPTIONS = {
    "notifier_retry_schedule": "[1, 5, 30, 30]",  # ~66 s of retries: covers a recipient down for a minute
    "notifier_env": {"NOTIFIER_REQUEST_TIMEOUT_SECONDS": "2", "NOTIFIER_BREAKER_COOLDOWN_SECONDS": "5"},
}


async def set_mode(pipeline: Pipeline, agency: str, mode: str) -> None:
    async with httpx.AsyncClient(timeout=10) as client:
        response = await client.post(
            f"{pipeline.url('recipient-sim')}/control/failures", json={"agency_id": agency, "mode": mode}
        )
        response.raise_for_status()


async def post(pipeline: Pipeline, town: str, count: int, label: str) -> list[str]:
    tag = uuid.uuid4().hex[:5].upper()
    reports = [sample_report(f"CL-{label}-{tag}-{i}", town) for i in range(count)]
    async with httpx.AsyncClient(timeout=30) as client:
        for report in reports:
            assert (await client.post(f"{pipeline.url('intake')}/v1/reports", json=report)).status_code == 202
    return [r["careline_report_id"] for r in reports]


async def attempts_of(db: AsyncEngine, notification_id: str) -> list[DeliveryAttemptRecord]:
    async with db.connect() as conn:
        rows = await conn.execute(
            select(DeliveryAttemptRecord)
            .where(DeliveryAttemptRecord.notification_id == notification_id)
            .order_by(DeliveryAttemptRecord.attempt_no)
        )
        return list(rows.all())  # type: ignore[arg-type]


async def agency_rows(db: AsyncEngine, ids: list[str], agency: str) -> list[object]:
    return [r for r in await notification_rows(db, ids) if r.agency_id == agency]


async def test_500s_are_retried_until_delivered(fault_pipeline: Pipeline, fault_db: AsyncEngine) -> None:
    await set_mode(fault_pipeline, "pd-hartford", "500")
    ids = await post(fault_pipeline, "Hartford", 3, "R500")
    await asyncio.sleep(3)
    await set_mode(fault_pipeline, "pd-hartford", "ok")

    async def delivered() -> bool:
        rows = await agency_rows(fault_db, ids, "pd-hartford")
        return len(rows) == 3 and all(r.delivered_at for r in rows)  # type: ignore[attr-defined]

    assert await eventually(delivered, timeout=90)
    rows = await agency_rows(fault_db, ids, "pd-hartford")
    attempts = [len(await attempts_of(fault_db, r.notification_id)) for r in rows]  # type: ignore[attr-defined]
    print(f"\n500s then ok: attempts per notification {attempts}")
    assert all(a >= 2 for a in attempts)


async def test_a_timing_out_agency_does_not_hold_up_another_agency_of_the_same_kind(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    await set_mode(fault_pipeline, "pd-new-haven", "timeout")
    slow = await post(fault_pipeline, "New Haven", 5, "TMO")
    started = datetime.now().astimezone()
    healthy = await post(fault_pipeline, "Stamford", 5, "OK")

    async def healthy_delivered() -> bool:
        rows = await agency_rows(fault_db, healthy, "pd-stamford")
        return len(rows) == 5 and all(r.delivered_at for r in rows)  # type: ignore[attr-defined]

    assert await eventually(healthy_delivered, timeout=60)
    rows = await agency_rows(fault_db, healthy, "pd-stamford")
    worst = max((r.delivered_at - started).total_seconds() for r in rows)  # type: ignore[attr-defined]
    slow_rows = await agency_rows(fault_db, slow, "pd-new-haven")
    print(
        f"\nwhile pd-new-haven timed out: pd-stamford delivered within {worst:.1f}s of posting; "
        f"pd-new-haven states {[r.state for r in slow_rows]}"
    )  # type: ignore[attr-defined]
    assert all(r.delivered_at is None for r in slow_rows)  # type: ignore[attr-defined]
    assert worst < 30  # five 2-second timeouts in a row would be 10 s; retries must not queue ahead of it

    await set_mode(fault_pipeline, "pd-new-haven", "ok")

    async def slow_delivered() -> bool:
        rows = await agency_rows(fault_db, slow, "pd-new-haven")
        return len(rows) == 5 and all(r.delivered_at for r in rows)  # type: ignore[attr-defined]

    assert await eventually(slow_delivered, timeout=120)


async def test_410_disables_the_endpoint_after_one_attempt(fault_pipeline: Pipeline, fault_db: AsyncEngine) -> None:
    await set_mode(fault_pipeline, "pd-bristol", "410")
    first = await post(fault_pipeline, "Bristol", 1, "GONE")

    async def dead() -> bool:
        rows = await agency_rows(fault_db, first, "pd-bristol")
        return bool(rows) and rows[0].state == "dead_lettered"  # type: ignore[attr-defined]

    assert await eventually(dead, timeout=60)
    row = (await agency_rows(fault_db, first, "pd-bristol"))[0]
    assert len(await attempts_of(fault_db, row.notification_id)) == 1  # type: ignore[attr-defined]
    async with fault_db.connect() as conn:
        status = (
            await conn.execute(select(EndpointStatusRecord).where(EndpointStatusRecord.agency_id == "pd-bristol"))
        ).one()
    assert status.disabled

    later = await post(fault_pipeline, "Bristol", 1, "GONE2")

    async def dead_without_calling() -> bool:
        rows = await agency_rows(fault_db, later, "pd-bristol")
        return bool(rows) and rows[0].state == "dead_lettered"  # type: ignore[attr-defined]

    assert await eventually(dead_without_calling, timeout=60)
    row = (await agency_rows(fault_db, later, "pd-bristol"))[0]
    print(
        f"\n410: endpoint disabled; next notification dead-lettered after "
        f"{len(await attempts_of(fault_db, row.notification_id))} attempts"
    )  # type: ignore[attr-defined]
    assert await attempts_of(fault_db, row.notification_id) == []  # type: ignore[attr-defined]

    # ops re-enables the endpoint and redrives its dead letters: both are delivered
    await set_mode(fault_pipeline, "pd-bristol", "ok")
    print(ops_command(fault_pipeline, "enable-endpoint", "--agency", "pd-bristol", "--by", "fault-test"))
    print(ops_command(fault_pipeline, "redrive", "--agency", "pd-bristol"))

    async def both_delivered() -> bool:
        rows = await agency_rows(fault_db, first + later, "pd-bristol")
        return len(rows) == 2 and all(r.delivered_at for r in rows)  # type: ignore[attr-defined]

    assert await eventually(both_delivered, timeout=60)


async def test_429_retry_after_is_honoured(fault_pipeline: Pipeline, fault_db: AsyncEngine) -> None:
    await set_mode(fault_pipeline, "pd-waterbury", "429:8")
    ids = await post(fault_pipeline, "Waterbury", 1, "R429")

    async def one_attempt_made() -> bool:
        rows = await agency_rows(fault_db, ids, "pd-waterbury")
        return bool(rows) and len(await attempts_of(fault_db, rows[0].notification_id)) >= 1  # type: ignore[attr-defined]

    assert await eventually(one_attempt_made, timeout=60)
    await set_mode(fault_pipeline, "pd-waterbury", "ok")

    async def delivered() -> bool:
        rows = await agency_rows(fault_db, ids, "pd-waterbury")
        return len(rows) == 1 and all(r.delivered_at for r in rows)  # type: ignore[attr-defined]

    assert await eventually(delivered, timeout=60)
    row = (await agency_rows(fault_db, ids, "pd-waterbury"))[0]
    attempts = await attempts_of(fault_db, row.notification_id)  # type: ignore[attr-defined]
    gap = (attempts[1].started_at - attempts[0].finished_at).total_seconds()
    print(f"\n429 Retry-After 8: next attempt {gap:.1f}s later (tier 1 s)")
    assert gap >= 8


async def test_a_recipient_down_for_a_minute_gets_everything_once_it_recovers(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    await set_mode(fault_pipeline, "fbi-new-haven", "503")
    stream = ReportStream(fault_pipeline.url("intake"), rate_per_second=2)
    stream.start()
    await asyncio.sleep(60)
    await stream.stop()
    await set_mode(fault_pipeline, "fbi-new-haven", "ok")
    result = await drain(fault_db, fault_pipeline.url("recipient-sim"), stream, timeout=180)
    print("\n" + result.line("FBI down 60 s then back"))
    assert result.accepted_202 > 20
    assert result.lost == 0 and result.dead_letters == 0
    assert result.mismatched_webhook_ids == 0 and result.extra_delivered_attempts == 0


async def test_a_notifier_stopped_while_a_retry_waits_in_its_tier_gives_it_back_and_delivers_it_once(
    fault_pipeline: Pipeline, fault_db: AsyncEngine
) -> None:
    """SIGTERM while a notification sleeps in the 30 s tier: the shutdown does not wait the tier out, the
    message is not committed, and the restarted notifier delivers it once."""
    agency = "pd-bridgeport"
    await set_mode(fault_pipeline, agency, "503")
    ids = await post(fault_pipeline, "Bridgeport", 1, "RSTOP")

    async def waiting_in_the_30s_tier() -> bool:
        rows = await agency_rows(fault_db, ids, agency)
        return bool(rows) and len(await attempts_of(fault_db, rows[0].notification_id)) >= 3  # type: ignore[attr-defined]

    assert await eventually(waiting_in_the_30s_tier, timeout=60)
    notifier = fault_pipeline.services["notifier"]
    started = asyncio.get_running_loop().time()
    await asyncio.to_thread(notifier.terminate)
    stopped_in = asyncio.get_running_loop().time() - started
    assert notifier.process is not None and notifier.process.returncode == -signal.SIGTERM  # not SIGKILLed
    # Nothing waited in memory: the tier's partition was paused at the retry, uncommitted, until it is due.
    assert "partition_paused_until_due" in notifier.log_path.read_text()
    await set_mode(fault_pipeline, agency, "ok")
    await asyncio.to_thread(notifier.start)
    await asyncio.to_thread(notifier.wait_healthy, 60)

    async def delivered() -> bool:
        rows = await agency_rows(fault_db, ids, agency)
        return len(rows) == 1 and all(r.delivered_at for r in rows)  # type: ignore[attr-defined]

    assert await eventually(delivered, timeout=90)
    row = (await agency_rows(fault_db, ids, agency))[0]
    attempts = await attempts_of(fault_db, row.notification_id)  # type: ignore[attr-defined]
    async with httpx.AsyncClient(timeout=10) as client:
        receipts = (await client.get(f"{fault_pipeline.url('recipient-sim')}/receipts")).json()["notifications"]
    print(
        f"\nstopped while waiting in the 30 s tier: notifier exited in {stopped_in:.1f} s; "
        f"attempts {[a.outcome for a in attempts]}; receipts {receipts[row.notification_id]['receipts']}"  # type: ignore[attr-defined]
    )
    assert [a.outcome for a in attempts][-1] == "delivered" and len(attempts) == 4
    assert receipts[row.notification_id]["receipts"] == 1  # type: ignore[attr-defined]
