"""Every event leaves a service the same way: JSON, keyed so one key's events keep their order, and typed in
its headers; notifications go to their recipient kind's topic, keyed by agency."""

from collections.abc import Mapping

from faststream.kafka import KafkaBroker

from shared.events.base import Event
from shared.events.notification import Notification
from shared.topics import NOTIFICATION_TOPICS


async def publish_event(
    broker: KafkaBroker, event: Event, topic: str, key: str, headers: Mapping[str, str] | None = None
) -> None:
    """Returns once Kafka has acknowledged the record (the producer is idempotent with acks=all)."""
    typed = {"event-type": str(event_type)} if (event_type := getattr(event, "event_type", None)) else {}
    await broker.publish(
        event.model_dump_json().encode(),
        topic,
        key=key.encode(),
        headers={"content-type": "application/json", **typed, **(headers or {})},
    )


async def publish_notification(
    broker: KafkaBroker, notification: Notification, headers: Mapping[str, str] | None = None
) -> None:
    await publish_event(
        broker, notification, NOTIFICATION_TOPICS[notification.recipient_kind], notification.agency_id, headers
    )
