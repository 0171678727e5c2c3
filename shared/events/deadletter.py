"""A message the pipeline could not process, kept with the reason so nothing is silently lost."""

from typing import Literal

from pydantic import AwareDatetime

from shared.events.base import Event


class DeadLetter(Event):
    event_type: Literal["dead_letter"] = "dead_letter"
    event_version: Literal[1] = 1
    source_topic: str
    source_partition: int | None = None
    source_offset: int | None = None
    key: str | None = None
    reason: str
    detail: str
    failed_at: AwareDatetime
    attempts: int = 1
    original_value_b64: str | None = None
    original_truncated: bool = False
    original_sha256: str | None = None
    notification_id: str | None = None
    agency_id: str | None = None
