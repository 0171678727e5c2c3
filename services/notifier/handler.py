"""Deliver one notification from the main topic or a retry tier.

Order of durable work, so a crash anywhere replays at worst: attempt recorded in the database, then the
follow-up (retry tier or dead letter) published with acks=all, and only then the offset committed. A
replay is harmless: delivered notifications are skipped, and a webhook seen twice carries one webhook-id.
"""

import asyncio
import base64
import os
import random
from collections import defaultdict
from datetime import UTC, datetime

import httpx
import structlog
from faststream.kafka import KafkaBroker, KafkaMessage

from services.notifier.breaker import CircuitBreakers
from services.notifier.metrics import ATTEMPT_LATENCY, DEAD_LETTERS, DELIVERIES, DELIVERY_ATTEMPTS, DUPLICATES_SKIPPED
from services.notifier.retry_policy import DeadLetterIt, Deliver, RetryLater, decide
from services.notifier.settings import NotifierSettings
from services.notifier.webhook import AttemptResult, post_webhook
from shared.consuming import Abandoned, PoisonMessage, parse_event
from shared.directory.endpoints import EndpointNotConfigured, EndpointRegistry
from shared.events import DeadLetter, Notification
from shared.publishing import publish_event
from shared.redrive import REDRIVE_HEADER
from shared.store.repository import TERMINAL_DELIVERED, Store
from shared.topics import NOTIFICATION_DEAD_LETTERS, notification_topic, retry_topic

log = structlog.get_logger(__name__)

RETRIES_HEADER = "retries"
NOT_BEFORE_HEADER = "not-before"


class NotificationDeliverer:
    def __init__(
        self,
        broker: KafkaBroker,
        store: Store,
        endpoints: EndpointRegistry,
        client: httpx.AsyncClient,
        settings: NotifierSettings,
        stopping: asyncio.Event | None = None,
    ) -> None:
        self._stopping = stopping or asyncio.Event()
        self._broker = broker
        self._store = store
        self._endpoints = endpoints
        self._client = client
        self._settings = settings
        self._schedule = settings.schedule()
        self.breakers = CircuitBreakers(settings.breaker_failure_threshold, settings.breaker_cooldown_seconds)
        self._limits: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.max_concurrent_per_endpoint)
        )

    async def __call__(self, msg: KafkaMessage) -> None:
        notification = parse_event(Notification, msg.body)
        state = await self._store.notification_state(notification.notification_id)
        if state is None:
            raise PoisonMessage("unknown_notification", f"{notification.notification_id} was never routed")
        if state in TERMINAL_DELIVERED:
            DUPLICATES_SKIPPED.labels(notification.recipient_kind.value).inc()
            return
        headers = msg.headers
        if state == "dead_lettered" and headers.get(REDRIVE_HEADER) != "true":
            return
        await _wait_until(headers.get(NOT_BEFORE_HEADER), self._stopping)
        await self._attempt(notification, msg.body, int(headers.get(RETRIES_HEADER, "0")))

    async def _attempt(self, notification: Notification, body: bytes, retries_so_far: int) -> None:
        kind = notification.recipient_kind.value
        agency = notification.agency_id
        if await self._store.endpoint_disabled(agency):
            await self._dead_letter(notification, body, "endpoint_disabled", "endpoint disabled after 410 Gone")
            return
        try:
            endpoint = self._endpoints.get(agency)
        except EndpointNotConfigured as exc:
            await self._dead_letter(notification, body, "endpoint_not_configured", str(exc))
            return
        started = datetime.now(UTC)
        if self.breakers.allows(agency):
            async with self._limits[agency]:
                result = await post_webhook(
                    self._client,
                    endpoint,
                    notification.notification_id,
                    body,
                    max_response_bytes=self._settings.max_response_bytes,
                )
            self.breakers.record(agency, result.outcome == "delivered")
        else:
            result = AttemptResult("circuit_open", None, "circuit breaker open: endpoint failing")
        finished = datetime.now(UTC)
        ATTEMPT_LATENCY.labels(kind).observe((finished - started).total_seconds())
        DELIVERY_ATTEMPTS.labels(kind, result.outcome).inc()
        if result.outcome == "delivered":
            self._maybe_crash_before_recording()
        decision = decide(_as_retryable(result), retries_so_far, self._schedule, finished)
        new_state = {Deliver: "delivered", RetryLater: "retrying"}.get(type(decision), "failed")
        await self._store.record_attempt(
            notification.notification_id,
            outcome=result.outcome,
            started_at=started,
            finished_at=finished,
            status_code=result.status_code,
            error=result.error,
            new_state=new_state,
            next_attempt_at=decision.not_before if isinstance(decision, RetryLater) else None,
        )
        if isinstance(decision, Deliver):
            DELIVERIES.labels(kind).inc()
            log.info(
                "notification_delivered",
                notification_id=notification.notification_id,
                agency_id=agency,
                retries=retries_so_far,
            )
        elif isinstance(decision, RetryLater):
            await self._schedule_retry(notification, body, decision)
        else:
            assert isinstance(decision, DeadLetterIt)
            if decision.reason == "endpoint_gone":
                await self._store.set_endpoint_disabled(agency, True, reason=result.error, by="notifier", at=finished)
                log.error("endpoint_disabled_after_410", agency_id=agency)
            await self._dead_letter(notification, body, decision.reason, result.error or decision.reason)

    async def _schedule_retry(self, notification: Notification, body: bytes, retry: RetryLater) -> None:
        await self._broker.publish(
            body,
            retry_topic(notification.recipient_kind, retry.tier_seconds),
            key=notification.agency_id.encode(),
            headers={
                "content-type": "application/json",
                RETRIES_HEADER: str(retry.retries_so_far),
                NOT_BEFORE_HEADER: retry.not_before.isoformat(),
            },
        )

    def _maybe_crash_before_recording(self) -> None:
        chance = self._settings.crash_after_delivery_probability
        if chance and os.environ.get("ENVIRONMENT") == "test" and random.random() < chance:
            log.warning("fault_hook_crash_after_delivery")
            os._exit(137)

    async def _dead_letter(self, notification: Notification, body: bytes, reason: str, detail: str) -> None:
        """The dead letter is published (acks=all) before the state says so; both before the commit."""
        letter = DeadLetter(
            source_topic=notification_topic(notification.recipient_kind),
            reason=reason,
            detail=detail[-1000:],
            failed_at=datetime.now(UTC),
            attempts=await self._attempts(notification),
            key=notification.agency_id,
            original_value_b64=base64.b64encode(body).decode(),
            notification_id=notification.notification_id,
            agency_id=notification.agency_id,
        )
        await publish_event(self._broker, letter, NOTIFICATION_DEAD_LETTERS, notification.agency_id)
        await self._store.set_state(notification.notification_id, "dead_lettered")
        DEAD_LETTERS.labels(notification.recipient_kind.value, reason).inc()
        log.warning(
            "notification_dead_lettered",
            notification_id=notification.notification_id,
            agency_id=notification.agency_id,
            reason=reason,
        )

    async def _attempts(self, notification: Notification) -> int:
        row = await self._store.notification(notification.notification_id)
        return row.attempts if row else 0


def _as_retryable(result: AttemptResult) -> AttemptResult:
    """An open circuit is a retryable failure for scheduling purposes."""
    if result.outcome == "circuit_open":
        return AttemptResult("retryable", None, result.error)
    return result


async def _wait_until(not_before: str | None, stopping: asyncio.Event) -> None:
    """Sleep until a retry is due; a shutdown meanwhile gives the message back (up to 30 min in a late tier)."""
    if not not_before:
        return
    delay = (datetime.fromisoformat(not_before) - datetime.now(UTC)).total_seconds()
    if delay <= 0:
        return
    try:
        await asyncio.wait_for(stopping.wait(), timeout=delay)
    except TimeoutError:
        return
    raise Abandoned(f"shutting down {delay:.0f} s before the retry is due")
