"""Minimum necessary: each recipient kind receives only its allow-listed fields; never the reporter."""

from typing import Any

from shared.events import CarelineReport, RecipientKind

_COMMON = (
    "careline_report_id",
    "received_at",
    "classification",
    "priority",
    "missing_or_runaway",
    "residence_town",
    "occurrence_towns",
)
_CHILD = ("first_name", "last_name", "date_of_birth", "gender", "current_location", "safety_status")
_INVESTIGATIVE = ("alleged_traffickers", "online_platforms", "trafficking_indicators", "other_children_at_risk")

ALLOWED_FIELDS: dict[RecipientKind, tuple[str, ...]] = {
    RecipientKind.HART: _COMMON + _INVESTIGATIVE,
    RecipientKind.FBI: _COMMON + _INVESTIGATIVE,
    RecipientKind.POLICE: _COMMON + _INVESTIGATIVE,
    RecipientKind.MDT: (*_COMMON, "trafficking_indicators", "other_children_at_risk"),
}
ALLOWED_CHILD_FIELDS: dict[RecipientKind, tuple[str, ...]] = {
    RecipientKind.HART: _CHILD,
    RecipientKind.FBI: _CHILD,
    RecipientKind.POLICE: _CHILD,
    RecipientKind.MDT: ("first_name", "last_name", "date_of_birth", "gender"),
}
NEVER_SENT = frozenset({"reporter", "narrative"})


def payload_for(report: CarelineReport, kind: RecipientKind) -> dict[str, Any]:
    data = report.model_dump(mode="json")
    payload = {field: data[field] for field in ALLOWED_FIELDS[kind] if field not in NEVER_SENT}
    payload["child"] = {field: data["child"][field] for field in ALLOWED_CHILD_FIELDS[kind]}
    return payload
