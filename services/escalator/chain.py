"""Pure planning: which timers a routed notification gets, and who each escalation step reaches.

Step 0 re-notifies the agency itself when its acknowledgement SLA runs out; steps 1.. follow the policy's
escalation chain; a last timer at the deadline records a miss. An acknowledgement cancels what is left.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.directory.agencies import STATEWIDE_AGENCIES, AgencyKind
from shared.events import DecidedRecipient, RecipientKind
from shared.policy.model import KindPolicy
from shared.store.escalations import DEADLINE_STEP

_ESCALATION_NAMESPACE = uuid.UUID("0b8e3b0e-8f4b-4d44-9d7a-5f0c3c2f9a11")

RENOTIFY = "renotify"
ESCALATE = "escalate"
DEADLINE = "deadline_missed"

_KIND_OF_AGENCY = {
    AgencyKind.HART_LEAD: RecipientKind.HART,
    AgencyKind.HART_LIAISON: RecipientKind.HART,
    AgencyKind.FBI: RecipientKind.FBI,
    AgencyKind.MUNICIPAL_POLICE: RecipientKind.POLICE,
    AgencyKind.STATE_POLICE: RecipientKind.POLICE,
    AgencyKind.MDT: RecipientKind.MDT,
    AgencyKind.NCMEC: RecipientKind.NCMEC,
    AgencyKind.HHS: RecipientKind.HHS,
}

ROLES = {"careline-supervisor": "DCF Careline on-call supervisor"}
"""On-call roles a chain may name; DCF-internal, so they are reached over the HART channel."""


@dataclass(frozen=True)
class Target:
    agency_id: str
    name: str
    kind: RecipientKind


def target_for(agency_id: str) -> Target:
    if agency := STATEWIDE_AGENCIES.get(agency_id):
        return Target(agency_id, agency.name, _KIND_OF_AGENCY[agency.kind])
    if agency_id in ROLES:
        return Target(agency_id, ROLES[agency_id], RecipientKind.HART)
    prefixes = {"hart-region-": RecipientKind.HART, "mdt-": RecipientKind.MDT}
    kind = next((k for p, k in prefixes.items() if agency_id.startswith(p)), RecipientKind.POLICE)
    return Target(agency_id, agency_id, kind)


def escalation_notification_id(notification_id: str, step: int, target_agency_id: str) -> str:
    """Deterministic: firing a step twice (crash after publish) yields the same id, which the notifier dedupes."""
    return "esc_" + uuid.uuid5(_ESCALATION_NAMESPACE, f"{notification_id}|{step}|{target_agency_id}").hex


def plan_timers(
    recipient: DecidedRecipient, kind_policy: KindPolicy, sent_at: datetime, minute_seconds: float
) -> list[dict[str, Any]]:
    def due(minutes: int) -> datetime:
        return sent_at + timedelta(seconds=minutes * minute_seconds)

    nid = recipient.notification_id
    rows = [
        {
            "notification_id": nid,
            "step": 0,
            "action": RENOTIFY,
            "target_agency_id": recipient.agency_id,
            "due_at": due(kind_policy.ack_sla_minutes),
        }
    ]
    rows += [
        {
            "notification_id": nid,
            "step": i,
            "action": ESCALATE,
            "target_agency_id": step.to,
            "due_at": due(step.after_minutes),
        }
        for i, step in enumerate(kind_policy.escalation, start=1)
    ]
    rows.append(
        {
            "notification_id": nid,
            "step": DEADLINE_STEP,
            "action": DEADLINE,
            "target_agency_id": None,
            "due_at": recipient.deadline_at,
        }
    )
    return rows
