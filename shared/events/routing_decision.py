"""The audit record of one routing decision (topic routing.decisions.v1): ids, rules and reasons only.

No personal data: no names, no towns, no narrative; reasons are the policy's own texts, so the record
shows who was told what and why, for the CJIS audit duty, without repeating the report.
"""

from typing import Literal

from pydantic import AwareDatetime

from shared.events.base import Event
from shared.events.notification import RecipientKind


class DecidedRecipient(Event):
    notification_id: str
    recipient_kind: RecipientKind
    agency_id: str
    rule: str
    reason: str
    basis: Literal["statewide", "residence", "occurrence", "fallback"]
    fallback: bool
    deadline_at: AwareDatetime
    ack_sla_minutes: int
    fields: list[str]


class FallbackUsed(Event):
    rule: str
    recipient_kind: RecipientKind
    fallback_name: str  # which of the policy's fallbacks (unknown_troop, unknown_mdt, ...)
    agency_id: str


class RoutingDecisionRecorded(Event):
    event_type: Literal["routing.decision"] = "routing.decision"
    event_version: Literal[1] = 1
    report_id: str
    policy_version: str
    received_at: AwareDatetime
    decided_at: AwareDatetime
    matched_rules: list[str]
    recipients: list[DecidedRecipient]
    fallbacks: list[FallbackUsed]
