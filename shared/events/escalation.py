"""Escalation steps taken because a recipient did not acknowledge: published on escalations.v1."""

from enum import StrEnum
from typing import Literal

from pydantic import AwareDatetime

from shared.events.base import Event


class EscalationAction(StrEnum):
    """What an escalation timer does when it comes due; the values are the event's and the timer row's."""

    RENOTIFY = "renotify"  # step 0: the agency itself again, its acknowledgement SLA ran out
    ESCALATE = "escalate"  # steps 1..: the next target of the kind's escalation chain
    DEADLINE_MISSED = "deadline_missed"  # the last timer: no acknowledgement by the statutory deadline


class EscalationRecorded(Event):
    """Ids and times only. `escalation_notification_id` is deterministic, so a re-publish is harmless."""

    event_type: Literal["escalation.recorded"] = "escalation.recorded"
    event_version: Literal[1] = 1
    notification_id: str
    report_id: str
    agency_id: str
    step: int
    action: EscalationAction
    target_agency_id: str | None = None
    escalation_notification_id: str | None = None
    due_at: AwareDatetime
    fired_at: AwareDatetime
    deadline_at: AwareDatetime
