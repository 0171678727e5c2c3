"""The escalator's firing rules on SQLite with a recording broker: at-least-once, harmless twice.

A publish that fails after the escalation notice's row was committed leaves the timer due; the retry
uses the same deterministic id and adds no second audit record. An acknowledgement cancels what is left.
"""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from services.escalator.chain import plan_timers
from services.escalator.firing import TimerFirer
from services.escalator.scheduling import TimerScheduler
from shared.consuming import PoisonMessage
from shared.events import DecidedRecipient, RecipientKind
from shared.store.acknowledging import AckInput, record_ack
from shared.store.engine import make_engine, make_session_factory
from shared.store.escalations import TimerScheduling, TimersFor, UnknownNotifications, schedule_timers, timers_for
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord, NotificationRecord
from tests.unit.routing_support import DIRECTORY, POLICY
from tests.unit.store_rows import add_report_with_notification, decision_message

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
        await add_report_with_notification(conn, "CL-FIRE-1", "ntf_fire", T0)
    recipient = DecidedRecipient(
        notification_id="ntf_fire", recipient_kind=RecipientKind.POLICE, agency_id="pd-hartford", rule="r",
        reason="r", basis="residence", fallback=False, deadline_at=T0 + timedelta(hours=12), ack_sla_minutes=15,
        fields=[],
    )  # fmt: skip
    rows = plan_timers(recipient, POLICY.recipient_kinds[RecipientKind.POLICE], T0, 60)
    added = await schedule_timers(sessions, rows)
    again = await schedule_timers(sessions, rows)  # a replayed routing decision
    broker = FlakyBroker(fail_on={2})  # step 0: notice published, escalation event fails
    firer = TimerFirer(broker, sessions, "v", DIRECTORY)  # type: ignore[arg-type]
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
    message = decision_message("CL-ELSE-1", "ntf_elsewhere", "pd-x", T0, T0)

    async def run() -> None:
        engine = make_engine(url)
        try:
            await TimerScheduler(make_session_factory(engine), POLICY, 60)(message)
        finally:
            await engine.dispose()

    with pytest.raises(PoisonMessage):
        asyncio.run(run())


def test_decisions_scheduled_together_share_one_transaction_and_an_unknown_one_fails_alone(tmp_path: Path) -> None:
    """Group commit: what each decision gets back is what it would get alone (timers added, or UnknownNotifications)."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'batch.db'}"
    upgrade(url)

    async def run() -> tuple[list[object], list[object], int, list[int]]:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        async with engine.begin() as conn:
            for i in range(3):
                await add_report_with_notification(conn, f"CL-SCHED-{i}", f"ntf_sched_{i}", T0)
        police = POLICY.recipient_kinds[RecipientKind.POLICE]

        def timers(nid: str) -> TimersFor:
            recipient = DecidedRecipient(
                notification_id=nid, recipient_kind=RecipientKind.POLICE, agency_id="pd-hartford", rule="r",
                reason="r", basis="residence", fallback=False, deadline_at=T0 + timedelta(hours=12),
                ack_sla_minutes=15, fields=[],
            )  # fmt: skip
            return TimersFor(plan_timers(recipient, police, T0, 60), [nid])

        batch = [timers("ntf_sched_0"), timers("ntf_not_here"), timers("ntf_sched_1"), timers("ntf_sched_2")]
        scheduling = TimerScheduling(sessions)
        transactions: list[object] = []
        count = transactions.append
        event.listen(engine.sync_engine, "begin", count)
        first = await asyncio.gather(*(scheduling.schedule(t) for t in batch), return_exceptions=True)
        event.remove(engine.sync_engine, "begin", count)
        again = await asyncio.gather(*(scheduling.schedule(t) for t in batch), return_exceptions=True)
        counts = [len(await timers_for(sessions, f"ntf_sched_{i}")) for i in range(3)]
        counts.append(len(await timers_for(sessions, "ntf_not_here")))
        await engine.dispose()
        return list(first), list(again), len(transactions), counts

    first, again, transactions, counts = asyncio.run(run())
    assert [first[0], first[2], first[3]] == [5, 5, 5]
    assert isinstance(first[1], UnknownNotifications) and first[1].missing == ["ntf_not_here"]
    assert transactions == 1
    assert [again[0], again[2], again[3]] == [0, 0, 0]  # a replayed decision adds nothing
    assert isinstance(again[1], UnknownNotifications)
    assert counts == [5, 5, 5, 0]
