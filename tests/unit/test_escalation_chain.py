"""Escalation planning, targets, clocks and the compliance arithmetic: pure functions, no broker."""

from datetime import UTC, datetime, timedelta

import pytest

from services.compliance.report import build_report, durations
from services.escalator.chain import escalation_notification_id, plan_timers
from services.intake.clocks import clock_state
from shared.acklinks import LinkInvalid, make_token, verify_token
from shared.events import DecidedRecipient, EscalationAction, RecipientKind
from shared.store.escalations import DEADLINE_STEP
from shared.store.reporting import NotificationFacts
from tests.unit.routing_support import POLICY

T0 = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _recipient(kind: RecipientKind, hours: int = 12) -> DecidedRecipient:
    return DecidedRecipient(
        notification_id="ntf_x",
        recipient_kind=kind,
        agency_id="pd-hartford",
        rule="dmst-21-14",
        reason="r",
        basis="residence",
        fallback=False,
        deadline_at=T0 + timedelta(hours=hours),
        ack_sla_minutes=POLICY.recipient_kinds[kind].ack_sla_minutes,
        fields=[],
    )


def test_police_chain_renotifies_then_escalates_then_watches_the_deadline() -> None:
    rows = plan_timers(_recipient(RecipientKind.POLICE), POLICY.recipient_kinds[RecipientKind.POLICE], T0, 60)
    assert [(r["step"], r["action"], r["target_agency_id"]) for r in rows] == [
        (0, EscalationAction.RENOTIFY, "pd-hartford"),
        (1, EscalationAction.ESCALATE, "csp-hq"),
        (2, EscalationAction.ESCALATE, "hart-lead"),
        (3, EscalationAction.ESCALATE, "careline-supervisor"),
        (DEADLINE_STEP, EscalationAction.DEADLINE_MISSED, None),
    ]
    assert [r["due_at"] - T0 for r in rows[:4]] == [timedelta(minutes=m) for m in (15, 15, 30, 120)]
    assert rows[-1]["due_at"] == T0 + timedelta(hours=12)


def test_minute_scale_shortens_every_step_for_tests() -> None:
    rows = plan_timers(_recipient(RecipientKind.MDT), POLICY.recipient_kinds[RecipientKind.MDT], T0, 1)
    assert rows[0]["due_at"] == T0 + timedelta(seconds=60)


def _clock_minutes(kind: RecipientKind) -> int:
    """The shortest statutory clock any route gives this recipient kind."""
    routes, hours = [POLICY.route], []
    while routes:
        route = routes.pop()
        hours += [POLICY.clocks[r.clock].hours for r in route.recipients if r.kind == kind]
        routes += route.routes
    return min(hours) * 60


@pytest.mark.parametrize("kind", list(RecipientKind))
def test_every_chain_ends_well_inside_its_statutory_clock(kind: RecipientKind) -> None:
    policy = POLICY.recipient_kinds[kind]
    shortest = _clock_minutes(kind)
    assert policy.ack_sla_minutes <= policy.escalation[0].after_minutes
    assert policy.escalation[-1].after_minutes <= shortest * 0.75


def test_escalation_ids_are_deterministic_and_fit_the_column() -> None:
    a = escalation_notification_id("ntf_x", 1, "csp-hq")
    assert a == escalation_notification_id("ntf_x", 1, "csp-hq") != escalation_notification_id("ntf_x", 2, "csp-hq")
    assert a.startswith("esc_") and len(a) <= 40


def test_clock_states() -> None:
    deadline = T0 + timedelta(hours=12)
    assert clock_state(deadline, None, T0, 120) == "on_track"
    assert clock_state(deadline, None, deadline - timedelta(minutes=30), 120) == "at_risk"
    assert clock_state(deadline, None, deadline + timedelta(seconds=1), 120) == "missed"
    assert clock_state(deadline, T0 + timedelta(minutes=3), deadline + timedelta(hours=1), 120) == "met"
    assert clock_state(deadline, deadline + timedelta(minutes=1), deadline + timedelta(hours=1), 120) == "missed"


def test_link_tokens_bind_notification_agency_and_expiry() -> None:
    token = make_token("s", "ntf_x", "pd-hartford", T0 + timedelta(hours=1))
    claim = verify_token("s", token, now=T0)
    assert (claim.notification_id, claim.agency_id) == ("ntf_x", "pd-hartford")
    moved = token.replace("pd-hartford", "pd-other")
    for bad, now in [(moved, T0), (token, T0 + timedelta(hours=2)), ("a.b", T0)]:
        with pytest.raises(LinkInvalid):
            verify_token("s", bad, now=now)


def test_percentiles_are_nearest_rank() -> None:
    d = durations([float(v) for v in range(1, 101)])
    assert (d.count, d.p50_s, d.p95_s, d.max_s) == (100, 50.0, 95.0, 100.0)
    assert durations([]).p50_s is None


def test_compliance_counts_referrals_not_escalation_notices() -> None:
    def fact(nid: str, agency: str, ack_after: int | None) -> NotificationFacts:
        return NotificationFacts(
            "CL-1", nid, "police", agency, agency, T0, T0, T0 + timedelta(seconds=2),
            T0 + timedelta(seconds=ack_after) if ack_after is not None else None, T0 + timedelta(hours=12),
        )  # fmt: skip

    facts = [fact("ntf_1", "pd-a", 30), fact("ntf_2", "pd-b", None), fact("esc_1", "csp-hq", 5)]
    report = build_report(facts, [("escalated", "ntf_2")], T0, T0 + timedelta(days=1), T0 + timedelta(hours=13))
    assert [r["agency_id"] for r in report.referrals_per_agency] == ["pd-a", "pd-b"]
    assert report.time_to_acknowledge["police"].max_s == 30.0
    assert report.missed_notifications == ["ntf_2"]
    assert report.escalations == {"escalated": 1}
