"""Each branch of TimerFirer.fire_one, one due timer at a time, on SQLite with a recording broker (no Kafka).

Re-notify reaches the agency as routed; escalate reaches exactly the directory's target; an unknown target
is recorded and sends nothing; the deadline timer records a miss; an acknowledged notification's timer is
cancelled; a timer not yet due is left alone.
"""

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from services.escalator.firing import TimerFirer
from services.escalator.scheduling import TimerScheduler
from shared.events import (
    EscalationAction,
    EscalationRecorded,
    Notification,
    RecipientKind,
)
from shared.store.engine import make_engine, make_session_factory
from shared.store.escalations import DEADLINE_STEP, schedule_timers, timers_for
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord, EscalationTimerRecord, NotificationRecord
from shared.topics import ESCALATIONS
from tests.unit.routing_support import DIRECTORY, POLICY
from tests.unit.store_rows import add_report_with_notification, decision_message

T0 = datetime(2026, 12, 3, 8, 0, tzinfo=UTC)
DEADLINE = T0 + timedelta(hours=12)
DUE = T0 + timedelta(minutes=15)


class RecordingBroker:
    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, Any]]] = []

    async def publish(self, body: bytes, topic: str, **_: Any) -> None:
        self.published.append((topic, json.loads(body)))


@dataclass(frozen=True)
class Case:
    action: EscalationAction
    target: str | None
    acknowledged: bool = False
    now: datetime = DUE


@dataclass(frozen=True)
class Outcome:
    fired: bool
    timer: str  # "fired", "cancelled" or "due"
    audit: list[str]
    topics: list[str]
    notices: list[tuple[str, str, str]]  # (agency_id, agency_name, recipient_kind) of the escalation rows


async def _fire(url: str, case: Case) -> tuple[Outcome, RecordingBroker]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    async with engine.begin() as conn:
        acknowledged_at = T0 + timedelta(minutes=5) if case.acknowledged else None
        await add_report_with_notification(conn, "CL-BR-1", "ntf_br", T0, acknowledged_at=acknowledged_at)
    step = {EscalationAction.RENOTIFY: 0, EscalationAction.ESCALATE: 1}.get(case.action, DEADLINE_STEP)
    due_at = DEADLINE if case.action is EscalationAction.DEADLINE_MISSED else DUE
    timer = {"notification_id": "ntf_br", "step": step, "action": case.action, "target_agency_id": case.target}
    await schedule_timers(sessions, [{**timer, "due_at": due_at}])
    broker = RecordingBroker()
    fired = await TimerFirer(broker, sessions, "v", DIRECTORY).fire_one(case.now)  # type: ignore[arg-type]
    (row,) = await timers_for(sessions, "ntf_br")
    async with sessions() as session:
        audit = list(await session.scalars(select(AuditEventRecord.event).order_by(AuditEventRecord.id)))
        notices = [
            (n.agency_id, n.agency_name, n.recipient_kind)
            for n in await session.scalars(
                select(NotificationRecord).where(NotificationRecord.notification_id.like("esc_%"))
            )
        ]
    await engine.dispose()
    state = "fired" if row.fired_at else "cancelled" if row.cancelled_at else "due"
    return Outcome(fired, state, audit, [t for t, _ in broker.published], notices), broker


CASES = {
    "renotify reaches the agency as routed": (
        Case(EscalationAction.RENOTIFY, "pd-hartford"),
        Outcome(
            True,
            "fired",
            ["renotified"],
            ["notifications.police.v1", ESCALATIONS],
            [("pd-hartford", "Hartford Police Department", "police")],
        ),
    ),
    "escalate reaches the directory's agency": (
        Case(EscalationAction.ESCALATE, "hart-lead"),
        Outcome(
            True,
            "fired",
            ["escalated"],
            ["notifications.hart.v1", ESCALATIONS],
            [("hart-lead", "DCF Statewide Human Anti-Trafficking Response Team (HART) Lead", "hart")],
        ),
    ),
    "escalate to an on-call role goes over the HART channel": (
        Case(EscalationAction.ESCALATE, "careline-supervisor"),
        Outcome(
            True,
            "fired",
            ["escalated"],
            ["notifications.hart.v1", ESCALATIONS],
            [("careline-supervisor", "DCF Careline on-call supervisor", "hart")],
        ),
    ),
    "escalate to a local agency of the directory": (
        Case(EscalationAction.ESCALATE, "mdt-new-haven"),
        Outcome(
            True,
            "fired",
            ["escalated"],
            ["notifications.mdt.v1", ESCALATIONS],
            [("mdt-new-haven", "New Haven MDT (South Central Child Advocacy Center)", "mdt")],
        ),
    ),
    "an unknown target is recorded, nothing is sent": (
        Case(EscalationAction.ESCALATE, "pd-hartfrod"),
        Outcome(True, "fired", ["escalation_target_unknown"], [], []),
    ),
    "an escalate row without a target is recorded, nothing is sent": (
        Case(EscalationAction.ESCALATE, None),
        Outcome(True, "fired", ["escalation_target_unknown"], [], []),
    ),
    "the deadline timer records a miss": (
        Case(EscalationAction.DEADLINE_MISSED, None, now=DEADLINE + timedelta(seconds=1)),
        Outcome(True, "fired", ["deadline_missed"], [ESCALATIONS], []),
    ),
    "an acknowledged notification's timer is cancelled": (
        Case(EscalationAction.ESCALATE, "hart-lead", acknowledged=True),
        Outcome(True, "cancelled", [], [], []),
    ),
    "a timer not yet due is left alone": (
        Case(EscalationAction.ESCALATE, "hart-lead", now=DUE - timedelta(seconds=1)),
        Outcome(False, "due", [], [], []),
    ),
}


@pytest.mark.parametrize(("case", "expected"), CASES.values(), ids=CASES.keys())
def test_fire_one(tmp_path: Path, case: Case, expected: Outcome) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'branch.db'}"
    upgrade(url)
    outcome, _ = asyncio.run(_fire(url, case))
    assert outcome == expected


def _published(broker: RecordingBroker, topic: str) -> dict[str, Any]:
    (body,) = [body for t, body in broker.published if t == topic]
    return body


@pytest.mark.parametrize("action", [EscalationAction.RENOTIFY, EscalationAction.ESCALATE])
def test_notices_carry_ids_and_times_only_and_renotify_links_the_original(tmp_path: Path, action: str) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'payload.db'}"
    upgrade(url)
    target = "pd-hartford" if action == EscalationAction.RENOTIFY else "csp-hq"
    _, broker = asyncio.run(_fire(url, Case(EscalationAction(action), target)))
    notice = Notification.model_validate(_published(broker, "notifications.police.v1"))
    assert set(notice.payload) >= {"careline_report_id", "unacknowledged_notification_id", "deadline_at"}
    assert ("acknowledge_original_url" in notice.payload) is (action == EscalationAction.RENOTIFY)
    assert (notice.agency_id, notice.deadline_at) == (target, DEADLINE)
    event = EscalationRecorded.model_validate(_published(broker, ESCALATIONS))
    assert (event.action, event.escalation_notification_id) == (action, notice.notification_id)
    assert _published(broker, ESCALATIONS)["action"] == action.value  # the event's JSON value is unchanged


def test_the_deadline_event_names_no_escalation_notice(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'deadline.db'}"
    upgrade(url)
    case = Case(EscalationAction.DEADLINE_MISSED, None, now=DEADLINE + timedelta(seconds=1))
    _, broker = asyncio.run(_fire(url, case))
    body = _published(broker, ESCALATIONS)
    assert (body["action"], body["escalation_notification_id"], body["step"]) == ("deadline_missed", None, 99)


def test_an_unknown_target_does_not_hold_up_the_steps_after_it(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'queue.db'}"
    upgrade(url)

    async def run() -> tuple[list[bool], list[str]]:
        _, broker = await _fire(url, Case(EscalationAction.ESCALATE, "pd-hartfrod"))
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        later = {"notification_id": "ntf_br", "step": 2, "action": EscalationAction.ESCALATE}
        await schedule_timers(sessions, [{**later, "target_agency_id": "hart-lead", "due_at": DUE}])
        firer = TimerFirer(broker, sessions, "v", DIRECTORY)  # type: ignore[arg-type]
        fired = [await firer.fire_one(DUE), await firer.fire_one(DUE)]
        await engine.dispose()
        return fired, [t for t, _ in broker.published]

    fired, topics = asyncio.run(run())
    assert fired == [True, False]
    assert topics == ["notifications.hart.v1", ESCALATIONS]


def test_the_scheduler_plans_every_step_on_the_policy_clock_and_a_replay_adds_nothing(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'schedule.db'}"
    upgrade(url)
    message = decision_message("CL-BR-1", "ntf_br", "pd-hartford", T0, DEADLINE)

    async def run() -> list[tuple[int, str, str | None, timedelta]]:
        # The notification exists (the router commits it first); the case's timer is not wanted here.
        await _fire(url, Case(EscalationAction.ESCALATE, "hart-lead", now=T0))
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        async with sessions.begin() as session:
            for timer in await session.scalars(select(EscalationTimerRecord)):
                await session.delete(timer)
        scheduler = TimerScheduler(sessions, POLICY, seconds_per_policy_minute=1)
        await scheduler(message)
        await scheduler(message)  # a replayed decision
        timers = await timers_for(sessions, "ntf_br")
        await engine.dispose()
        return [(t.step, t.action, t.target_agency_id, _utc(t.due_at) - T0) for t in timers]

    chain = POLICY.recipient_kinds[RecipientKind.POLICE].escalation
    assert asyncio.run(run()) == [
        (0, "renotify", "pd-hartford", timedelta(seconds=15)),
        *[(i, "escalate", s.to, timedelta(seconds=s.after_minutes)) for i, s in enumerate(chain, start=1)],
        (DEADLINE_STEP, "deadline_missed", None, DEADLINE - T0),
    ]


def _utc(at: datetime) -> datetime:
    """SQLite gives naive datetimes back; they were written in UTC."""
    return at if at.tzinfo else at.replace(tzinfo=UTC)
