"""Minimum necessary: each recipient kind receives only the fields the policy allows; never the reporter."""

from typing import Any

from shared.events import CarelineReport
from shared.policy.model import NEVER_SENT, KindPolicy


def payload_for(report: CarelineReport, allowed: KindPolicy) -> dict[str, Any]:
    """NEVER_SENT is dropped here too, so a policy that slipped past validation still cannot leak it."""
    data = report.model_dump(mode="json")
    payload = {f: data[f] for f in allowed.fields if f in data and f not in NEVER_SENT}
    payload["child"] = {f: data["child"][f] for f in allowed.child_fields if f in data["child"]}
    return payload


def fields_sent(allowed: KindPolicy) -> list[str]:
    """The field names a recipient kind receives, as recorded in the audit event and shown by explain."""
    return [f for f in allowed.fields if f not in NEVER_SENT] + [f"child.{f}" for f in allowed.child_fields]
