"""Rows the escalation and retention tests start from: one received report and one routed notification."""

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.states import NotificationState
from shared.store.models import NotificationRecord, ReportRecord


async def add_report_with_notification(
    conn: AsyncConnection, report_id: str, notification_id: str, at: datetime, **notification: Any
) -> None:
    """A police notification delivered at `at` with a 12 h deadline; `notification` overrides its columns."""
    await conn.execute(
        ReportRecord.__table__.insert(),
        {
            "report_id": report_id, "received_at": at, "accepted_at": at, "content_sha256": "0" * 64,
            "classification": "dmst", "policy_version": "v", "notification_count": 1, "first_routed_at": at,
            "duplicates_received": 0,
        },
    )  # fmt: skip
    await conn.execute(
        NotificationRecord.__table__.insert(),
        {
            "notification_id": notification_id, "report_id": report_id, "recipient_kind": "police",
            "agency_id": "pd-hartford", "agency_name": "Hartford Police Department", "reason": "r",
            "fallback": False, "state": NotificationState.DELIVERED, "created_at": at,
            "deadline_at": at + timedelta(hours=12), "attempts": 1, **notification,
        },
    )  # fmt: skip
