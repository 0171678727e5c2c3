"""What the escalation and retention tests start from: a received report with one routed notification, and the
routing decision the escalator reads for it (as a consumed message)."""

from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from shared.events import DecidedRecipient, RecipientKind, RoutingDecisionRecorded
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


def decision_message(report_id: str, notification_id: str, agency_id: str, at: datetime, deadline: datetime) -> Any:
    """A routing decision naming one police recipient, shaped like the KafkaMessage the scheduler receives."""
    recipient = DecidedRecipient(
        notification_id=notification_id, recipient_kind=RecipientKind.POLICE, agency_id=agency_id, rule="r",
        reason="r", basis="residence", fallback=False, deadline_at=deadline, ack_sla_minutes=15, fields=[],
    )  # fmt: skip
    decision = RoutingDecisionRecorded(
        report_id=report_id, policy_version="v", received_at=at, decided_at=at, matched_rules=[],
        recipients=[recipient], fallbacks=[],
    )  # fmt: skip
    return SimpleNamespace(value=decision.model_dump_json().encode())
