"""The clocks on a report's status: time since receipt, each recipient's deadline, at risk, met or missed.

A deadline is never silent: an unacknowledged recipient inside the at-risk window is flagged, a passed
deadline shows as missed (the escalator also records it), and an acknowledgement says whether it was in time.
"""

from datetime import UTC, datetime
from typing import Any

from pydantic import PositiveFloat
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.store.models import AuditEventRecord

ESCALATION_EVENTS = ("renotified", "escalated", "deadline_missed", "deadline_met")


class ClockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CLOCK_", extra="ignore")

    at_risk_minutes: PositiveFloat = 120.0


def clock_state(deadline_at: datetime, acknowledged_at: datetime | None, now: datetime, window_minutes: float) -> str:
    if acknowledged_at is not None:
        return "met" if acknowledged_at <= deadline_at else "missed"
    if now > deadline_at:
        return "missed"
    return "at_risk" if (deadline_at - now).total_seconds() <= window_minutes * 60 else "on_track"


async def with_clocks(
    sessions: async_sessionmaker[AsyncSession],
    status: dict[str, Any],
    now: datetime | None = None,
    settings: ClockSettings | None = None,
) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    window = (settings or ClockSettings()).at_risk_minutes
    async with sessions() as session:
        steps = list(
            await session.scalars(
                select(AuditEventRecord)
                .where(AuditEventRecord.report_id == status["report_id"], AuditEventRecord.event.in_(ESCALATION_EVENTS))
                .order_by(AuditEventRecord.occurred_at, AuditEventRecord.id)
            )
        )
    received = datetime.fromisoformat(status["received_at"])
    status["seconds_since_receipt"] = round((now - received).total_seconds(), 1)
    status["at_risk_window_minutes"] = window
    for r in status["recipients"]:
        deadline = datetime.fromisoformat(r["deadline_at"])
        acked = datetime.fromisoformat(r["acknowledged_at"]) if r["acknowledged_at"] else None
        state = clock_state(deadline, acked, now, window)
        r["escalation_notice"] = r["notification_id"].startswith("esc_")
        r["clock"] = state
        r["at_risk"] = state == "at_risk"
        r["deadline_missed"] = state == "missed"
        r["seconds_to_deadline"] = round((deadline - now).total_seconds(), 1)
        r["escalations"] = [
            {"event": s.event, "at": s.occurred_at.isoformat(), "agency_id": s.agency_id}
            for s in steps
            if s.notification_id == r["notification_id"]
        ]
    status["at_risk"] = sum(r["at_risk"] for r in status["recipients"])
    status["deadlines_missed"] = sum(r["deadline_missed"] for r in status["recipients"])
    return status
