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


class MessageType(StrEnum):
    """What a notification tells its agency about the report it names."""

    REPORT = "report"  # the first notification of a report to this agency (full allowed payload)
    UPDATE = "update"  # a corrected version: only the changed fields this agency may see
    LINK = "link"  # a later report is linked to this one (same child or same alleged trafficker)


def notification_id_for(report_id: str, kind: RecipientKind, agency_id: str, message: str | None = None) -> str:
    """Deterministic, so a replay or a re-posted report yields the same id and duplicates are visible.

    `message` tells an update (``v2``) or a link notice (``link:<other report>``) apart from the first
    notification, which keeps the id it always had.
    """
    name = f"{report_id}|{kind.value}|{agency_id}" + (f"|{message}" if message else "")
    return "ntf_" + uuid.uuid5(_NOTIFICATION_NAMESPACE, name).hex


class LinkedReport(Event):
    """An earlier (or later) report about the same child or alleged trafficker: ids and times only."""

    report_id: str
    received_at: AwareDatetime
    matched_on: list[Literal["child", "suspect"]]
    agencies: list[str] = Field(description="Agencies that already hold that report.")


class Notification(Event):
    event_type: Literal["notification.requested"] = "notification.requested"
    event_version: Literal[1] = 1
    notification_id: str
    report_id: str
    report_version: int = 1
    message_type: MessageType = MessageType.REPORT
    recipient_kind: RecipientKind
    agency_id: str
    agency_name: str
    reason: str
    fallback: bool = False
    deadline_at: AwareDatetime
    policy_version: str
    created_at: AwareDatetime
    payload: dict[str, Any] = Field(
        description="Only the fields the policy allows this recipient kind (an update: only those that changed)."
    )
    ack_url: str | None = Field(default=None, description="Signed one-click acknowledgement link, expiring.")
