"""Every event leaves a service the same way: JSON, keyed so one key's events keep their order, and typed in
its headers; notifications go to their recipient kind's topic, keyed by agency."""

from collections.abc import Mapping

from faststream.kafka import KafkaBroker

from shared.envelope import configured_keyring, seal_value
from shared.events.base import Event
from shared.events.notification import Notification
from shared.stream.engine import ORDER_KEY_HEADER
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


def notification_order_key(notification: Notification) -> str:
    """One report's notifications to one agency are delivered in order (an amendment after what it amends);
    different reports to the same agency go side by side (shared/stream/engine.py)."""
    return f"{notification.agency_id}/{notification.report_id}"


async def publish_notification(
    broker: KafkaBroker, notification: Notification, headers: Mapping[str, str] | None = None
) -> None:
    """Sealed (shared/envelope.py) whenever ENVELOPE_KEYS is set: the payload names the child and the suspects.
    Keyed by agency (one agency's notifications share a partition), ordered by agency and report."""
    topic, key = NOTIFICATION_TOPICS[notification.recipient_kind], notification.agency_id
    headers = {ORDER_KEY_HEADER: notification_order_key(notification), **(headers or {})}
    keyring = configured_keyring()
    if keyring is None:  # local/test without keys only: production refuses to start without them
        await publish_event(broker, notification, topic, key, headers)
        return
    sealed = seal_value(notification.model_dump_json().encode(), keyring)
    await broker.publish(sealed, topic, key=key.encode(), headers={"content-type": "application/octet-stream",
                         "event-type": notification.event_type, **(headers or {})})  # fmt: skip
