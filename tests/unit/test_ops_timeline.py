"""The ops report page shows intake's timeline, cut to ids, agencies, states and times."""

from datetime import UTC, datetime

from services.ops.queries import ops_step
from shared.store.timeline import TimelineStep

AT = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def test_a_created_notification_keeps_its_deadline_but_not_the_reason_naming_the_town() -> None:
    step = TimelineStep(
        AT,
        "notification_created",
        "router",
        "CL-1",
        "ntf_1",
        "pd-hartford",
        "police",
        "police of residence town Hartford; deadline 2026-11-24T00:00:00+00:00; fallback",
    )
    shown = ops_step(step)
    assert shown["detail"] == "deadline 2026-11-24T00:00:00+00:00; fallback"
    assert "Hartford" not in str(shown)
    assert shown["actor"] == "by router" and shown["at"] == AT.isoformat()


def test_an_agency_staff_member_who_acknowledged_is_not_named_but_an_ops_user_is() -> None:
    ack = TimelineStep(AT, "acknowledged", "det-jane-roe", "CL-1", "ntf_1", "pd-hartford", "police", "via webhook")
    redrive = TimelineStep(AT, "ops_redrive", "ops:alice", "CL-1", "ntf_1", "pd-hartford", "police", "redriven")
    assert ops_step(ack)["actor"] is None and "jane" not in str(ops_step(ack))
    assert ops_step(redrive)["actor"] == "by ops:alice"
