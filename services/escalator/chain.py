"""Pure planning: which timers a routed notification gets, and a startup check of whom the chains name.

Step 0 re-notifies the agency itself when its acknowledgement SLA runs out; steps 1.. follow the policy's
escalation chain; a last timer at the deadline records a miss. An acknowledgement cancels what is left.
"""

import uuid
from datetime import date, datetime, timedelta
from typing import Any

from shared.directory.directory import Directory
from shared.directory.targets import resolve_target
from shared.events import DecidedRecipient, EscalationAction
from shared.policy.model import KindPolicy, Policy
from shared.store.escalations import DEADLINE_STEP

_ESCALATION_NAMESPACE = uuid.UUID("0b8e3b0e-8f4b-4d44-9d7a-5f0c3c2f9a11")


def check_chain_targets(policy: Policy, directory: Directory, day: date) -> None:
    """At startup: every chain names a target the directory knows (raises UnknownTarget otherwise)."""
    for kind_policy in policy.recipient_kinds.values():
        for step in kind_policy.escalation:
            resolve_target(step.to, directory, day)


def escalation_notification_id(notification_id: str, step: int, target_agency_id: str) -> str:
    """Deterministic: firing a step twice (crash after publish) yields the same id, which the notifier dedupes."""
    return "esc_" + uuid.uuid5(_ESCALATION_NAMESPACE, f"{notification_id}|{step}|{target_agency_id}").hex


def plan_timers(
    recipient: DecidedRecipient, kind_policy: KindPolicy, sent_at: datetime, seconds_per_policy_minute: float
) -> list[dict[str, Any]]:
    """One row per step; `seconds_per_policy_minute` is 60 in production, shorter in tests."""

    def due(minutes: int) -> datetime:
        return sent_at + timedelta(seconds=minutes * seconds_per_policy_minute)

    nid = recipient.notification_id
    rows = [
        {
            "notification_id": nid,
            "step": 0,
            "action": EscalationAction.RENOTIFY,
            "target_agency_id": recipient.agency_id,
            "due_at": due(kind_policy.ack_sla_minutes),
        }
    ]
    rows += [
        {
            "notification_id": nid,
            "step": i,
            "action": EscalationAction.ESCALATE,
            "target_agency_id": step.to,
            "due_at": due(step.after_minutes),
        }
        for i, step in enumerate(kind_policy.escalation, start=1)
    ]
    rows.append(
        {
            "notification_id": nid,
            "step": DEADLINE_STEP,
            "action": EscalationAction.DEADLINE_MISSED,
            "target_agency_id": None,
            "due_at": recipient.deadline_at,
        }
    )
    return rows
