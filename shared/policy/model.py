"""The routing policy as typed data: a small Alertmanager-style tree, clocks, field allow-lists, fallbacks.

Only the shape is checked here; references between parts (agencies, clocks, towns) are checked in
checks.py so both kinds of problem can be reported with a line number.
"""

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from shared.events import CarelineReport, Child, Classification, RecipientKind

NEVER_SENT = frozenset({"reporter", "narrative"})
"""Protected by CGS 17a-103(b) / 17a-101k: no policy may list these, and payloads drop them regardless."""

LINKED_REPORTS = "linked_reports"
"""Not a report field: the router adds the ids of linked reports (deconfliction) where the policy allows it."""
REPORT_FIELDS = frozenset(CarelineReport.model_fields) - {"child", "schema_version"} | {LINKED_REPORTS}
CHILD_FIELDS = frozenset(Child.model_fields)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Clock(_Strict):
    hours: PositiveInt
    basis: str = Field(min_length=3)


class Matchers(_Strict):
    """All given matchers must hold; an empty matcher set matches every report."""

    classification: list[Classification] | None = None
    missing_or_runaway: bool | None = None
    child_foreign_national: bool | None = Field(default=None, alias="child.foreign_national")
    age_min: int | None = Field(default=None, ge=0, le=30, description="Years at received_at, inclusive.")
    age_max: int | None = Field(default=None, ge=0, le=30, description="Years at received_at, inclusive.")
    residence_town: list[str] | None = None
    occurrence_town: list[str] | None = Field(default=None, description="Any of the report's occurrence towns.")


class Resolve(StrEnum):
    """How a recipient's agency is found: named in the policy, or looked up in the directory."""

    AGENCY = "agency"
    REGIONAL_HART_LIAISON = "regional_hart_liaison"
    LOCAL_POLICE = "local_police"
    LOCAL_MDT = "local_mdt"


class TownRole(StrEnum):
    RESIDENCE = "residence"
    OCCURRENCE = "occurrence"


class RecipientSpec(_Strict):
    kind: RecipientKind
    resolve: Resolve = Resolve.AGENCY
    agency: str | None = None
    towns: list[TownRole] = Field(default_factory=lambda: [TownRole.RESIDENCE], min_length=1)
    clock: str
    reason: str = Field(min_length=3)


class Route(_Strict):
    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]*$")
    match: Matchers = Matchers()
    recipients: list[RecipientSpec] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    routes: list["Route"] = Field(default_factory=list)


class EscalationStep(_Strict):
    after_minutes: PositiveInt
    to: str = Field(min_length=2, description="Statewide agency id or on-call role (checked at load).")


class KindPolicy(_Strict):
    fields: list[str]
    child_fields: list[str]
    ack_sla_minutes: PositiveInt
    escalation: list[EscalationStep] = Field(min_length=1)

    @field_validator("fields")
    @classmethod
    def _known_report_fields(cls, value: list[str]) -> list[str]:
        return _allowed(value, REPORT_FIELDS)

    @field_validator("child_fields")
    @classmethod
    def _known_child_fields(cls, value: list[str]) -> list[str]:
        return _allowed(value, CHILD_FIELDS)

    @field_validator("escalation")
    @classmethod
    def _increasing(cls, value: list[EscalationStep]) -> list[EscalationStep]:
        minutes = [s.after_minutes for s in value]
        if minutes != sorted(set(minutes)):
            raise ValueError("escalation steps must be in strictly increasing after_minutes")
        return value


def _allowed(value: list[str], known: frozenset[str]) -> list[str]:
    if forbidden := sorted(NEVER_SENT & set(value)):
        raise ValueError(f"{forbidden} may never be sent to any recipient (CGS 17a-103(b))")
    if unknown := sorted(set(value) - known):
        raise ValueError(f"unknown field(s) {unknown}; known: {sorted(known)}")
    return value


class Fallbacks(_Strict):
    """Agency ids used when the directory has no answer; every use is marked fallback and audited."""

    unknown_town: str
    unknown_troop: str
    unknown_mdt: str
    unknown_region: str
    unrouted: str


class Policy(_Strict):
    version: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}\.\d+$")
    clocks: dict[str, Clock] = Field(min_length=1)
    recipient_kinds: dict[RecipientKind, KindPolicy]
    fallbacks: Fallbacks
    route: Route = Field(description="Root route; its own recipients are the default when no child matches.")
