"""The Careline report as the hotline system sends it (schema version 1).

Holds personal data about a child: it travels only inside the pipeline and to the recipients
whose policy allows each field; it is never logged and never stored in the database.
"""

from datetime import date
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field

from shared.events.base import Event

REPORT_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{3,63}$"
ShortText = Annotated[str, Field(max_length=200)]  # every list item has a length cap too (OWASP API4)


class Classification(StrEnum):
    """What the Careline screened the report as; DMST is what policy 21-14 forwards."""

    DMST = "dmst"
    LABOR_TRAFFICKING = "labor_trafficking"
    SEXUAL_ABUSE = "sexual_abuse"
    OTHER = "other"


class Child(Event):
    first_name: str = Field(min_length=1, max_length=100)
    last_name: str = Field(min_length=1, max_length=100)
    date_of_birth: date
    gender: str | None = Field(default=None, max_length=40)
    current_location: str | None = Field(default=None, max_length=300)
    safety_status: str | None = Field(default=None, max_length=300)
    foreign_national: bool = False


class AllegedTrafficker(Event):
    name: str | None = Field(default=None, max_length=200)
    identifiers: list[ShortText] = Field(default_factory=list, max_length=20)
    relationship_to_child: str | None = Field(default=None, max_length=100)


class Reporter(Event):
    """The reporter's identity is protected by CGS 17a-103(b): it is never forwarded."""

    name: str = Field(min_length=1, max_length=200)
    role: str | None = Field(default=None, max_length=100)
    phone: str | None = Field(default=None, max_length=40)


class CarelineReport(Event):
    schema_version: Literal[1] = 1
    careline_report_id: str = Field(pattern=REPORT_ID_PATTERN)
    report_version: int = Field(default=1, ge=1, le=1000, description="A corrected report: same id, higher version.")
    received_at: AwareDatetime
    classification: Classification
    priority: Literal["routine", "urgent", "imminent_risk"] = "urgent"
    child: Child
    missing_or_runaway: bool
    residence_town: str = Field(min_length=2, max_length=80)
    occurrence_towns: list[Annotated[str, Field(max_length=80)]] = Field(default_factory=list, max_length=20)
    alleged_traffickers: list[AllegedTrafficker] = Field(default_factory=list, max_length=20)
    online_platforms: list[ShortText] = Field(default_factory=list, max_length=20)
    trafficking_indicators: str | None = Field(default=None, max_length=4000)
    other_children_at_risk: bool = False
    narrative: str = Field(min_length=1, max_length=20000)
    reporter: Reporter
