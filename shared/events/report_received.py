"""Intake's event on the report topic: the validated report plus when intake accepted it."""

import hashlib
from datetime import datetime
from typing import Literal

from pydantic import AwareDatetime

from shared.events.base import Event
from shared.events.careline import CarelineReport


class ReportReceived(Event):
    event_type: Literal["report.received"] = "report.received"
    event_version: Literal[1] = 1
    report: CarelineReport
    accepted_at: AwareDatetime
    content_sha256: str

    @classmethod
    def of(cls, report: CarelineReport, accepted_at: datetime) -> "ReportReceived":
        """The content hash lets the router tell a harmless re-post from a conflicting one."""
        digest = hashlib.sha256(report.model_dump_json().encode()).hexdigest()
        return cls(report=report, accepted_at=accepted_at, content_sha256=digest)
