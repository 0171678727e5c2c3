"""Retention purge deletes only what is older than the cutoff; notifications carry a valid ack link."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from services.compliance.settings import RetentionSettings
from services.router.outputs import build_notifications
from shared.acklinks import DEV_LINK_SECRET, verify_token
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord
from shared.store.reporting import purge_reports_received_before
from tests.unit.routing_support import POLICY, report_for, routed
from tests.unit.store_rows import add_report_with_notification

NOW = datetime(2026, 11, 23, tzinfo=UTC)


async def _seed_and_purge(url: str) -> tuple[int, int, int]:
    engine = make_engine(url)
    async with engine.begin() as conn:
        for rid, age in (("CL-OLD-0001", 500), ("CL-NEW-0001", 10)):
            at = NOW - timedelta(days=age)
            await add_report_with_notification(conn, rid, f"ntf_{rid}", at)
            await conn.execute(
                AuditEventRecord.__table__.insert(),
                {"occurred_at": at, "event": "deadline_met", "actor": "acks", "report_id": rid, "dedupe_key": rid},
            )
    sessions = make_session_factory(engine)
    cutoff = NOW - timedelta(days=RetentionSettings().retention_days)
    dry = await purge_reports_received_before(sessions, cutoff, dry_run=True)
    done = await purge_reports_received_before(sessions, cutoff)
    async with engine.connect() as conn:
        left = int(await conn.scalar(select(func.count()).select_from(AuditEventRecord)) or 0)
    await engine.dispose()
    return dry, done, left


def test_purge_deletes_only_reports_older_than_retention(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'retention.db'}"
    upgrade(url)
    assert asyncio.run(_seed_and_purge(url)) == (1, 1, 1)


def test_retention_defaults_to_more_than_a_year_and_refuses_less() -> None:
    assert RetentionSettings().retention_days >= 365
    with pytest.raises(ValueError):
        RetentionSettings(retention_days=30)


def test_every_notification_carries_a_link_that_expires_at_its_deadline() -> None:
    report = report_for("Hartford")
    notifications = build_notifications(report, routed(report), POLICY, NOW)
    for n in notifications:
        assert n.ack_url is not None
        claim = verify_token(DEV_LINK_SECRET, n.ack_url.rsplit("/", 1)[1], now=report.received_at)
        assert (claim.notification_id, claim.agency_id) == (n.notification_id, n.agency_id)
        assert claim.expires_at == n.deadline_at.replace(microsecond=0)
