"""Acknowledgements: what a recipient posts, and the event published once it is recorded."""

from typing import Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event


class AckRequest(Event):
    """Body of POST /v1/acks, signed by the recipient agency with its own secret."""

    notification_id: str = Field(min_length=4, max_length=80)
    agency_id: str = Field(min_length=2, max_length=80)
    acknowledged_by: str = Field(min_length=1, max_length=120, description="Badge, user id or role.")
    note: str | None = Field(default=None, max_length=1000)


class AcknowledgementRecorded(Event):
    event_type: Literal["acknowledgement.recorded"] = "acknowledgement.recorded"
    event_version: Literal[1] = 1
    notification_id: str
    report_id: str
    agency_id: str
    acknowledged_at: AwareDatetime
