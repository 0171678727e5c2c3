"""GET /v1/reports/{id} and its timeline: where each recipient's notification stands, ids, states and times only.

No agency names, no routing reasons, no actors: a reason may once have carried input text, and who
acknowledged (a badge, a name) is the recipient's business (issue 12)."""

from datetime import datetime
from typing import Any

from shared.store.repository import Store
from shared.store.timeline import TimelineStep


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


async def report_status(store: Store, report_id: str) -> dict[str, Any] | None:
    found = await store.report_status(report_id)
    if found is None:
        return None
    report, notifications = found
    return {
        "report_id": report.report_id,
        "received_at": _iso(report.received_at),
        "accepted_at": _iso(report.accepted_at),
        "routed_at": _iso(report.routed_at),
        "policy_version": report.policy_version,
        "duplicates_received": report.duplicates_received,
        "recipients": [
            {
                "notification_id": n.notification_id,
                "recipient_kind": n.recipient_kind,
                "agency_id": n.agency_id,
                "fallback": n.fallback,
                "state": n.state,
                "attempts": n.attempts,
                "deadline_at": _iso(n.deadline_at),
                "delivered_at": _iso(n.delivered_at),
                "acknowledged_at": _iso(n.acknowledged_at),
            }
            for n in notifications
        ],
    }


def public_step(step: TimelineStep) -> dict[str, str | None]:
    """A timeline step as intake serves it: no actor, no free-form detail."""
    return {
        "at": step.at.isoformat(),
        "event": step.event,
        "report_id": step.report_id,
        "notification_id": step.notification_id,
        "agency_id": step.agency_id,
        "recipient_kind": step.recipient_kind,
    }
