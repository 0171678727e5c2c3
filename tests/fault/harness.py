"""The fault suite's common shape: a steady stream of reports, a fault, a drain, and the oracle.

Oracle (after Kafka's ReplicationTest): every report answered 202 has exactly one recorded delivery per
recipient the policy names (or a dead letter where the test expects one); duplicate webhook receipts carry
the same webhook-id. Each test prints its figures.
"""

import asyncio
import contextlib
import os
import subprocess
import sys
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import all_town_names, sample_report
from shared.settings import REPO_ROOT
from shared.store.models import DeliveryAttemptRecord
from tests.helpers import eventually, expected_notifications, notification_rows


@dataclass
class ReportStream:
    """Posts reports at a steady rate in the background and remembers which ones were accepted."""

    intake_url: str
    rate_per_second: float = 5.0
    tag: str = field(default_factory=lambda: uuid.uuid4().hex[:6].upper())
    accepted: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    sent: int = 0
    _task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        towns = all_town_names()
        async with httpx.AsyncClient(timeout=30) as client:
            while True:
                report = sample_report(f"CL-F-{self.tag}-{self.sent:05d}", towns[self.sent % len(towns)])
                self.sent += 1
                try:
                    status = (await client.post(f"{self.intake_url}/v1/reports", json=report)).status_code
                except httpx.HTTPError:
                    status = 0
                if status == 202:
                    self.accepted.append(report)
                else:
                    self.refused += 1
                await asyncio.sleep(1 / self.rate_per_second)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def report_ids(self) -> list[str]:
        return [r["careline_report_id"] for r in self.accepted]


@dataclass
class Figures:
    reports_sent: int
    accepted_202: int
    expected_deliveries: int
    deliveries: int
    dead_letters: int
    duplicates_received: int
    mismatched_webhook_ids: int
    extra_delivered_attempts: int
    lost: int
    unsettled: list[str] = field(default_factory=list)

    def line(self, name: str) -> str:
        return (
            f"[{name}] sent={self.reports_sent} 202={self.accepted_202} expected={self.expected_deliveries} "
            f"delivered={self.deliveries} dead_letters={self.dead_letters} "
            f"duplicates_received={self.duplicates_received} mismatched_webhook_ids={self.mismatched_webhook_ids} "
            f"extra_delivered_attempts={self.extra_delivered_attempts} lost={self.lost}"
        ) + "".join(f"\n  unsettled: {u}" for u in self.unsettled[:20])


async def figures(db: AsyncEngine, sim_url: str, stream: ReportStream) -> Figures:
    rows = await notification_rows(db, stream.report_ids)
    expected = sum(expected_notifications(r) for r in stream.accepted)
    async with httpx.AsyncClient(timeout=30) as client:
        receipts = (await client.get(f"{sim_url}/receipts")).json()["notifications"]
    delivered = [r for r in rows if r.delivered_at is not None]
    dead = [r for r in rows if r.state == "dead_lettered"]
    async with db.connect() as conn:
        per_notification = dict(
            (
                await conn.execute(
                    select(DeliveryAttemptRecord.notification_id, func.count())
                    .where(DeliveryAttemptRecord.outcome == "delivered")
                    .where(DeliveryAttemptRecord.notification_id.in_([r.notification_id for r in rows]))
                    .group_by(DeliveryAttemptRecord.notification_id)
                )
            ).all()
        )
    mine = [receipts[r.notification_id] for r in rows if r.notification_id in receipts]
    return Figures(
        reports_sent=stream.sent,
        accepted_202=len(stream.accepted),
        expected_deliveries=expected,
        deliveries=len(delivered),
        dead_letters=len(dead),
        duplicates_received=sum(m["receipts"] - 1 for m in mine),
        mismatched_webhook_ids=sum(len(m["webhook_ids"]) > 1 for m in mine),
        extra_delivered_attempts=sum(max(0, n - 1) for n in per_notification.values()),
        lost=expected - len(delivered) - len(dead),
        unsettled=[
            f"{r.notification_id} {r.report_id} {r.agency_id} state={r.state} attempts={r.attempts} "
            f"error={r.last_error}"
            for r in rows
            if r.delivered_at is None and r.state != "dead_lettered"
        ],
    )


async def drain(db: AsyncEngine, sim_url: str, stream: ReportStream, timeout: float = 240) -> Figures:
    """Wait until every accepted report's notifications are delivered or dead-lettered."""

    async def settled() -> bool:
        f = await figures(db, sim_url, stream)
        return f.lost == 0

    await eventually(settled, timeout=timeout, interval=2)
    return await figures(db, sim_url, stream)


def ops_command(pipeline: Pipeline, *args: str) -> str:
    """Run the ops command (list, redrive, enable-endpoint) against this pipeline, as ops would."""
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": pipeline.config.bootstrap_servers,
        "DATABASE_URL": pipeline.config.database_url,
        "ENVIRONMENT": pipeline.config.environment,
        # Redrive opens the sealed notifications (shared/envelope.py): ops holds the pipeline's envelope keys.
        **{k: v for k, v in pipeline.services["router"].env.items() if k.startswith("ENVELOPE_")},
    }
    done = subprocess.run(
        [sys.executable, "-m", "services.notifier.redrive", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"redrive {args} exited {done.returncode}:\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout
