"""Deliver one notification: skip it if already delivered, else attempt, record, and retry or dead-letter.

Every attempt is recorded before the offset moves, so a crash replays the message at worst: the
recipient may then see the same webhook-id twice, which Standard Webhooks receivers deduplicate.
"""

import asyncio
import base64
import json
import random
from datetime import UTC, datetime

import httpx
import structlog
from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from services.notifier.metrics import (
    ATTEMPT_LATENCY,
    DEAD_LETTERS,
    DELIVERIES,
    DELIVERY_ATTEMPTS,
    DUPLICATES_SKIPPED,
)
from services.notifier.settings import NotifierSettings
from services.notifier.webhook import AttemptResult, post_webhook
from shared.consuming import PoisonMessage
from shared.directory.endpoints import EndpointNotConfigured, EndpointRegistry
from shared.events import DeadLetter, Notification
from shared.store.repository import TERMINAL_DELIVERED, Store
from shared.topics import NOTIFICATION_DEAD_LETTERS

log = structlog.get_logger(__name__)


def parse_notification(body: bytes) -> Notification:
    try:
        return Notification.model_validate(json.loads(body))
    except json.JSONDecodeError as exc:
        raise PoisonMessage("invalid_json", f"not JSON: {exc.msg} at position {exc.pos}") from exc
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
        raise PoisonMessage("schema_invalid", problems[:1000]) from exc


class NotificationDeliverer:
    def __init__(
        self,
        broker: KafkaBroker,
        store: Store,
        endpoints: EndpointRegistry,
        client: httpx.AsyncClient,
        settings: NotifierSettings,
    ) -> None:
        self._broker = broker
        self._store = store
        self._endpoints = endpoints
        self._client = client
        self._settings = settings

    async def __call__(self, msg: KafkaMessage) -> None:
        notification = parse_notification(msg.body)
        state = await self._store.notification_state(notification.notification_id)
        if state is None:
            raise PoisonMessage(
                "unknown_notification", f"{notification.notification_id} was never recorded by the router"
            )
        if state in TERMINAL_DELIVERED:
            DUPLICATES_SKIPPED.labels(notification.recipient_kind.value).inc()
            return
        if state == "dead_lettered" and msg.headers.get("redrive") != "true":
            return
        await self._deliver(notification, msg.body)

    async def _deliver(self, notification: Notification, body: bytes) -> None:
        kind = notification.recipient_kind.value
        try:
            endpoint = self._endpoints.get(notification.agency_id)
        except EndpointNotConfigured as exc:
            await self._dead_letter(notification, body, "endpoint_not_configured", str(exc), attempts=0)
            return
        errors: list[str] = []
        for attempt in range(1, self._settings.max_attempts + 1):
            started = datetime.now(UTC)
            result = await post_webhook(
                self._client,
                endpoint,
                notification.notification_id,
                body,
                max_response_bytes=self._settings.max_response_bytes,
            )
            finished = datetime.now(UTC)
            ATTEMPT_LATENCY.labels(kind).observe((finished - started).total_seconds())
            DELIVERY_ATTEMPTS.labels(kind, result.outcome).inc()
            final = result.outcome != "retryable" or attempt == self._settings.max_attempts
            new_state = "delivered" if result.outcome == "delivered" else ("failed" if final else "retrying")
            await self._store.record_attempt(
                notification.notification_id,
                outcome=result.outcome,
                started_at=started,
                finished_at=finished,
                status_code=result.status_code,
                error=result.error,
                new_state=new_state,
            )
            if result.outcome == "delivered":
                DELIVERIES.labels(kind).inc()
                log.info(
                    "notification_delivered",
                    notification_id=notification.notification_id,
                    agency_id=notification.agency_id,
                    attempt=attempt,
                )
                return
            errors.append(f"attempt {attempt}: {result.error}")
            if final:
                break
            await asyncio.sleep(self._delay(attempt, result))
        reason = (
            "endpoint_gone"
            if result.outcome == "gone"
            else ("rejected" if result.outcome == "rejected" else "retries_exhausted")
        )
        await self._dead_letter(notification, body, reason, "; ".join(errors)[-1000:], attempts=len(errors))

    def _delay(self, attempt: int, result: AttemptResult) -> float:
        schedule = self._settings.backoff_seconds
        base = schedule[min(attempt - 1, len(schedule) - 1)] if schedule else 1.0
        if result.retry_after_seconds is not None:
            base = max(base, result.retry_after_seconds)
        return base * (0.8 + 0.4 * random.random())

    async def _dead_letter(
        self, notification: Notification, body: bytes, reason: str, detail: str, attempts: int
    ) -> None:
        """The dead letter is published (acks=all) before the state says so; both before the commit."""
        letter = DeadLetter(
            source_topic=f"notifications.{notification.recipient_kind.value}.v1",
            reason=reason,
            detail=detail,
            failed_at=datetime.now(UTC),
            attempts=attempts,
            key=notification.agency_id,
            original_value_b64=base64.b64encode(body).decode(),
            notification_id=notification.notification_id,
            agency_id=notification.agency_id,
        )
        await self._broker.publish(
            letter.model_dump_json().encode(),
            NOTIFICATION_DEAD_LETTERS,
            key=notification.agency_id.encode(),
            headers={"content-type": "application/json"},
        )
        await self._store.set_state(notification.notification_id, "dead_lettered")
        DEAD_LETTERS.labels(notification.recipient_kind.value, reason).inc()
        log.warning(
            "notification_dead_lettered",
            notification_id=notification.notification_id,
            agency_id=notification.agency_id,
            reason=reason,
        )
