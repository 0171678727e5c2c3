"""The escalator's firing rules on SQLite with a recording broker: at-least-once, harmless twice.

A publish that fails after the escalation notice's row was committed leaves the timer due; the retry
uses the same deterministic id and adds no second audit record. An acknowledgement cancels what is left.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import select

from services.escalator.chain import plan_timers
from services.escalator.firing import TimerFirer
from services.escalator.scheduling import TimerScheduler
from shared.consuming import PoisonMessage
from shared.events import DecidedRecipient, RecipientKind, RoutingDecisionRecorded
from shared.store.acknowledging import AckInput, record_ack
from shared.store.engine import make_engine, make_session_factory
from shared.store.escalations import schedule_timers, timers_for
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord, NotificationRecord, ReportRecord
from tests.unit.routing_support import POLICY

T0 = datetime.now(UTC)


class FlakyBroker:
    def __init__(self, fail_on: set[int]) -> None:
        self.calls = 0
        self.fail_on = fail_on
        self.published: list[str] = []

    async def publish(self, body: bytes, topic: str, **_: Any) -> None:
        self.calls += 1
        if self.calls in self.fail_on:
            raise ConnectionError("broker away")
        self.published.append(topic)


async def _scenario(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    async with engine.begin() as conn:
        await conn.execute(
            ReportRecord.__table__.insert(),
            {
                "report_id": "CL-FIRE-1", "received_at": T0, "accepted_at": T0, "content_sha256": "0" * 64,
                "classification": "dmst", "policy_version": "v", "notification_count": 1, "first_routed_at": T0,
                "duplicates_received": 0,
            },
        )  # fmt: skip
        await conn.execute(
            NotificationRecord.__table__.insert(),
            {
                "notification_id": "ntf_fire", "report_id": "CL-FIRE-1", "recipient_kind": "police",
                "agency_id": "pd-hartford", "agency_name": "Hartford PD", "reason": "r", "fallback": False,
                "state": "delivered", "created_at": T0, "deadline_at": T0 + timedelta(hours=12), "attempts": 1,
            },
        )  # fmt: skip
    recipient = DecidedRecipient(
        notification_id="ntf_fire", recipient_kind=RecipientKind.POLICE, agency_id="pd-hartford", rule="r",
        reason="r", basis="residence", fallback=False, deadline_at=T0 + timedelta(hours=12), ack_sla_minutes=15,
        fields=[],
    )  # fmt: skip
    rows = plan_timers(recipient, POLICY.recipient_kinds[RecipientKind.POLICE], T0, 60)
    added = await schedule_timers(sessions, rows)
    again = await schedule_timers(sessions, rows)  # a replayed routing decision
    broker = FlakyBroker(fail_on={2})  # step 0: notice published, escalation event fails
    firer = TimerFirer(broker, sessions, "v")  # type: ignore[arg-type]
    at = T0 + timedelta(minutes=16)  # steps 0 and 1 are due
    try:
        await firer.fire_one(at)
        failed = False
    except ConnectionError:
        failed = True
    after_failure = [t.fired_at for t in await timers_for(sessions, "ntf_fire")]
    fired = [await firer.fire_one(at) for _ in range(3)]
    await record_ack(
        sessions,
        AckInput(
            "ntf_fire", "CL-FIRE-1", "pd-hartford", "badge-1", None, "wh-1", at, T0 + timedelta(hours=12), "webhook"
        ),
    )
    late = await firer.fire_one(T0 + timedelta(hours=13))
    timers = await timers_for(sessions, "ntf_fire")
    async with sessions() as session:
        audit = [a.event for a in await session.scalars(select(AuditEventRecord).order_by(AuditEventRecord.id))]
        notices = sorted(await session.scalars(select(NotificationRecord.agency_id).where(
            NotificationRecord.notification_id.like("esc_%"))))  # fmt: skip
    await engine.dispose()
    return {
        "added": (added, again), "failed": failed, "after_failure": after_failure, "fired": fired, "late": late,
        "timers": [(t.step, t.fired_at is not None, t.cancelled_at is not None) for t in timers],
        "audit": audit, "notices": notices, "published": broker.published,
    }  # fmt: skip


def test_firing_is_at_least_once_with_deterministic_ids_and_ack_cancels(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'fire.db'}"
    upgrade(url)
    result = asyncio.run(_scenario(url))
    assert result["added"] == (5, 0)
    assert result["failed"] and all(f is None for f in result["after_failure"])  # nothing marked, still due
    assert result["fired"] == [True, True, False]  # step 0 (retried) and step 1; step 2 not due yet
    assert result["notices"] == ["csp-hq", "pd-hartford"]  # one row each, although step 0 was published twice
    assert result["audit"] == ["renotified", "escalated", "acknowledged", "deadline_met"]
    assert result["late"] is False  # everything left was cancelled by the acknowledgement
    assert result["timers"] == [
        (0, True, False),
        (1, True, False),
        (2, False, True),
        (3, False, True),
        (99, False, True),
    ]
    assert result["published"].count("notifications.police.v1") == 3  # step 0 twice (harmless), step 1 once


def test_a_decision_for_notifications_not_in_the_store_is_poison(tmp_path: Path) -> None:
    """Dead-lettered rather than retried forever: a retry could never find the rows."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'poison.db'}"
    upgrade(url)
    recipient = DecidedRecipient(
        notification_id="ntf_elsewhere", recipient_kind=RecipientKind.POLICE, agency_id="pd-x", rule="r",
        reason="r", basis="residence", fallback=False, deadline_at=T0, ack_sla_minutes=15, fields=[],
    )  # fmt: skip
    decision = RoutingDecisionRecorded(
        report_id="CL-ELSE-1", policy_version="v", received_at=T0, decided_at=T0, matched_rules=[],
        recipients=[recipient], fallbacks=[],
    )  # fmt: skip

    async def run() -> None:
        engine = make_engine(url)
        try:
            await TimerScheduler(make_session_factory(engine), POLICY, 60)(
                SimpleNamespace(value=decision.model_dump_json().encode())  # type: ignore[arg-type]
            )
        finally:
            await engine.dispose()

    with pytest.raises(PoisonMessage):
        asyncio.run(run())
