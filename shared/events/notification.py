"""One notification for one recipient agency: what the router publishes and the notifier delivers."""

import uuid
from enum import StrEnum
from typing import Any, Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event

_NOTIFICATION_NAMESPACE = uuid.UUID("6c1f7c4e-58a5-4c1e-9a59-0d1f0c1b7e21")


class RecipientKind(StrEnum):
    HART = "hart"
    FBI = "fbi"
    POLICE = "police"
    MDT = "mdt"
    NCMEC = "ncmec"  # missing/runaway: NCIC/NCMEC duty, 42 USC 671(a)(35)(B)
    HHS = "hhs"  # foreign-national child: HHS Office on Trafficking in Persons


def notification_id_for(report_id: str, kind: RecipientKind, agency_id: str) -> str:
    """Deterministic, so a replay or a re-posted report yields the same id and duplicates are visible."""
    return "ntf_" + uuid.uuid5(_NOTIFICATION_NAMESPACE, f"{report_id}|{kind.value}|{agency_id}").hex


class Notification(Event):
    event_type: Literal["notification.requested"] = "notification.requested"
    event_version: Literal[1] = 1
    notification_id: str
    report_id: str
    recipient_kind: RecipientKind
    agency_id: str
    agency_name: str
    reason: str
    fallback: bool = False
    deadline_at: AwareDatetime
    policy_version: str
    created_at: AwareDatetime
    payload: dict[str, Any] = Field(description="Only the fields the policy allows this recipient kind.")
    ack_url: str | None = Field(default=None, description="Signed one-click acknowledgement link, expiring.")
