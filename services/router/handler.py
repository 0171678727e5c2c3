"""Route one report: record it and its notifications, publish them all, then let the offset move."""

import asyncio
from datetime import UTC, datetime

import structlog
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from services.router.decision import decide
from services.router.metrics import NOTIFICATIONS_PUBLISHED, REPORTS_ROUTED
from services.router.outputs import build_notifications, decision_event
from shared.consuming import PoisonMessage, parse_event
from shared.directory.directory import Directory
from shared.events import Notification, ReportReceived, RoutingDecisionRecorded
from shared.policy.model import Policy
from shared.publishing import publish_event, publish_notification
from shared.store.repository import Store
from shared.topics import ROUTING_DECISIONS

log = structlog.get_logger(__name__)


class ReportRouter:
    def __init__(self, broker: KafkaBroker, store: Store, directory: Directory, policy: Policy) -> None:
        self._broker = broker
        self._store = store
        self._directory = directory
        self._policy = policy

    async def __call__(self, record: ConsumerRecord[bytes, bytes]) -> None:
        event = parse_event(ReportReceived, (record.value or b""))
        report_id = event.report.careline_report_id
        existing = await self._store.existing_report(report_id)
        if existing and existing.routed:
            if existing.content_sha256 != event.content_sha256:
                raise PoisonMessage(
                    "conflicting_duplicate", f"report {report_id} was already routed with different content"
                )
            await self._store.count_duplicate(report_id)
            REPORTS_ROUTED.labels("duplicate").inc()
            log.info("duplicate_report_ignored", report_id=report_id)
            return
        now = datetime.now(UTC)
        decision = decide(event.report, self._policy, self._directory)
        notifications = build_notifications(event.report, decision, self._policy, now)
        await self._store.record_routing(
            _report_row(event, now, len(notifications), self._policy.version),
            [_notification_row(n) for n in notifications],
        )
        await asyncio.gather(
            *(self._publish(n) for n in notifications),
            self._publish_decision(decision_event(decision, self._policy, now)),
        )
        await self._store.mark_routed(report_id, datetime.now(UTC))
        REPORTS_ROUTED.labels("routed").inc()
        log.info(
            "report_routed",
            report_id=report_id,
            notifications=len(notifications),
            policy_version=decision.policy_version,
            fallbacks=len(decision.fallbacks),
        )

    async def _publish(self, notification: Notification) -> None:
        await publish_notification(self._broker, notification)
        NOTIFICATIONS_PUBLISHED.labels(notification.recipient_kind.value, str(notification.fallback).lower()).inc()

    async def _publish_decision(self, event: RoutingDecisionRecorded) -> None:
        """The audit record goes out before the offset moves, like every notification."""
        await publish_event(self._broker, event, ROUTING_DECISIONS, event.report_id)


def _report_row(event: ReportReceived, now: datetime, count: int, policy_version: str) -> dict[str, object]:
    return {
        "report_id": event.report.careline_report_id,
        "received_at": event.report.received_at,
        "accepted_at": event.accepted_at,
        "content_sha256": event.content_sha256,
        "classification": event.report.classification.value,
        "policy_version": policy_version,
        "notification_count": count,
        "first_routed_at": now,
        "duplicates_received": 0,
    }


def _notification_row(n: Notification) -> dict[str, object]:
    return {
        "notification_id": n.notification_id,
        "report_id": n.report_id,
        "recipient_kind": n.recipient_kind.value,
        "agency_id": n.agency_id,
        "agency_name": n.agency_name,
        "reason": n.reason,
        "fallback": n.fallback,
        "state": "pending",
        "created_at": n.created_at,
        "deadline_at": n.deadline_at,
        "attempts": 0,
    }
