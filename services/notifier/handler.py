"""Deliver one notification record, from its kind's main topic or one of its retry tiers.

Order of durable work, so a crash anywhere replays at worst: attempt recorded in the database, then the
follow-up (retry tier or dead letter) published with acks=all; only then does the record count as finished and
its offset may be committed. A replay is harmless: delivered notifications are skipped, and a webhook seen twice
carries one webhook-id. What each answer leads to is `delivery_policy.py`.
"""

import asyncio
import hashlib
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import ClassVar

import structlog
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from services.notifier.breaker import CircuitBreakers
from services.notifier.delivery_policy import (
    CIRCUIT_OPEN,
    MarkDelivered,
    RetryInTier,
    SendToDeadLetters,
    breaker_may_skip,
    decide,
)
from services.notifier.metrics import ATTEMPT_LATENCY, DEAD_LETTERS, DELIVERIES, DELIVERY_ATTEMPTS, DUPLICATES_SKIPPED
from services.notifier.settings import NotifierSettings
from services.notifier.webhook import WebhookClient, post_webhook
from shared.consuming import PoisonMessage, parse_event
from shared.directory.endpoints import EndpointNotConfigured, EndpointRegistry
from shared.envelope import open_or_poison
from shared.events import DeadLetter, Notification
from shared.publishing import notification_order_key, publish_event
from shared.redrive import REDRIVE_HEADER
from shared.states import DELIVERED_STATES, AttemptOutcome, NotificationState
from shared.store.repository import AttemptToRecord, Store
from shared.stream.engine import NOT_BEFORE_HEADER, ORDER_KEY_HEADER, header
from shared.topics import NOTIFICATION_DEAD_LETTERS, retry_topic

log = structlog.get_logger(__name__)

RETRIES_HEADER = "retries"

# Called after the agency's 2xx and before it is recorded; the fault suite injects a crash here.
BeforeRecordingHook = Callable[[Notification], Awaitable[None]]


class NotificationDeliverer:
    # The fault suite's crash-after-delivery hook, set by its own entry point (tests/fault), never in product code.
    before_recording: ClassVar[BeforeRecordingHook | None] = None

    def __init__(
        self,
        broker: KafkaBroker,
        store: Store,
        endpoints: EndpointRegistry,
        client: WebhookClient,
        settings: NotifierSettings,
    ) -> None:
        self._broker = broker
        self._store = store
        self._endpoints = endpoints
        self._client = client
        self._settings = settings
        self.breakers = CircuitBreakers(settings.breaker_failure_threshold, settings.breaker_cooldown_seconds)
        self._limits: defaultdict[str, asyncio.Semaphore] = defaultdict(
            lambda: asyncio.Semaphore(settings.max_concurrent_per_endpoint)
        )

    async def __call__(self, record: ConsumerRecord[bytes, bytes]) -> None:
        body = open_or_poison(record.value or b"")  # what the agency receives; retry tiers get the sealed value
        notification = parse_event(Notification, body)
        state = await self._store.notification_state(notification.notification_id)
        if state is None:
            raise PoisonMessage("unknown_notification", f"{notification.notification_id} was never routed")
        if state in DELIVERED_STATES:
            DUPLICATES_SKIPPED.labels(notification.recipient_kind.value).inc()
            return
        redriven = header(record, REDRIVE_HEADER) == "true"
        if state == NotificationState.DEAD_LETTERED and not redriven:
            return
        await self._attempt(notification, body, record, int(header(record, RETRIES_HEADER) or "0"), redriven)

    async def _attempt(
        self,
        notification: Notification,
        body: bytes,
        record: ConsumerRecord[bytes, bytes],
        retries_so_far: int,
        redriven: bool,
    ) -> None:
        kind = notification.recipient_kind
        agency = notification.agency_id
        if await self._store.endpoint_disabled(agency):
            await self._dead_letter(notification, record, "endpoint_disabled", "endpoint disabled after 410 Gone")
            return
        try:
            endpoint = self._endpoints.get(agency)
        except EndpointNotConfigured as exc:
            await self._dead_letter(notification, record, "endpoint_not_configured", str(exc))
            return
        started = datetime.now(UTC)
        schedule = self._settings.schedule(kind)
        result = CIRCUIT_OPEN
        if self.breakers.allows(agency) or not breaker_may_skip(retries_so_far, schedule, redriven):
            async with self._limits[agency]:
                result = await post_webhook(
                    self._client,
                    endpoint,
                    notification.notification_id,
                    body,
                    max_response_bytes=self._settings.max_response_bytes,
                    deadline_seconds=self._settings.attempt_deadline_seconds,
                )
            self.breakers.record(agency, result.outcome == AttemptOutcome.DELIVERED)
        finished = datetime.now(UTC)
        ATTEMPT_LATENCY.labels(kind.value).observe((finished - started).total_seconds())
        DELIVERY_ATTEMPTS.labels(kind.value, result.outcome.value).inc()
        hook = type(self).before_recording
        if result.outcome == AttemptOutcome.DELIVERED and hook is not None:
            await hook(notification)
        step = decide(result, retries_so_far, schedule, finished)
        await self._store.record_attempt(
            AttemptToRecord(
                notification_id=notification.notification_id,
                outcome=result.outcome,
                started_at=started,
                finished_at=finished,
                status_code=result.status_code,
                error=result.error,
                new_state=step.state,
                next_attempt_at=step.not_before if isinstance(step, RetryInTier) else None,
            )
        )
        if isinstance(step, MarkDelivered):
            DELIVERIES.labels(kind.value).inc()
            log.info("notification_delivered", notification_id=notification.notification_id, agency_id=agency,
                     retries=retries_so_far)  # fmt: skip
        elif isinstance(step, RetryInTier):
            await self._broker.publish(
                record.value or b"",
                retry_topic(kind, step.tier_seconds),
                key=agency.encode(),
                headers={
                    "content-type": "application/json",
                    ORDER_KEY_HEADER: notification_order_key(notification),
                    RETRIES_HEADER: str(step.retries_so_far),
                    NOT_BEFORE_HEADER: step.not_before.isoformat(),
                },
            )
        else:
            assert isinstance(step, SendToDeadLetters)
            if step.disable_endpoint:
                await self._store.set_endpoint_disabled(agency, True, reason=result.error, by="notifier", at=finished)
                log.error("endpoint_disabled_after_410", agency_id=agency)
            await self._dead_letter(notification, record, step.reason, result.error or step.reason)

    async def _dead_letter(
        self, notification: Notification, record: ConsumerRecord[bytes, bytes], reason: str, detail: str
    ) -> None:
        """The dead letter is published (acks=all) before the state says so; both before the record finishes.

        It points to the record it gave up on (topic, partition, offset, hash), which Kafka retains as long as the
        database keeps the notification; redrive reads it back from there, so no copy of the contents is made."""
        letter = DeadLetter(
            source_topic=record.topic,
            source_partition=record.partition,
            source_offset=record.offset,
            reason=reason,
            detail=detail[-300:],
            failed_at=datetime.now(UTC),
            attempts=await self._store.attempts(notification.notification_id),
            key=notification.agency_id,
            original_sha256=hashlib.sha256(record.value or b"").hexdigest(),
            notification_id=notification.notification_id,
            agency_id=notification.agency_id,
        )
        await publish_event(self._broker, letter, NOTIFICATION_DEAD_LETTERS, notification.agency_id)
        await self._store.set_state(notification.notification_id, NotificationState.DEAD_LETTERED)
        DEAD_LETTERS.labels(notification.recipient_kind.value, reason).inc()
        log.warning("notification_dead_lettered", notification_id=notification.notification_id,
                    agency_id=notification.agency_id, reason=reason)  # fmt: skip
