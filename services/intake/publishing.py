"""Publishing a report so that 'accepted' means Kafka has it on every in-sync replica."""

import asyncio
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker

from shared.envelope import Keyring, seal_record
from shared.events import CarelineReport, ReportReceived
from shared.publishing import publish_event
from shared.topics import REPORTS


class KafkaUnavailable(ConnectionError):
    """Kafka did not acknowledge the report in time: the caller must not be told it was accepted."""


async def _publish_sealed(broker: KafkaBroker, event: ReportReceived, key: str, keyring: Keyring) -> None:
    """The report's fields never sit on Kafka in the clear (shared/envelope.py); the router opens it."""
    sealed, envelope_headers = seal_record(event.model_dump_json().encode(), keyring)
    await broker.publish(
        sealed,
        REPORTS,
        key=key.encode(),
        headers={"content-type": "application/octet-stream", "event-type": event.event_type, **envelope_headers},
    )


async def publish_report(
    broker: KafkaBroker, report: CarelineReport, timeout_seconds: float, keyring: Keyring | None = None
) -> ReportReceived:
    """With a keyring (ENVELOPE_KEYS; required in production) the record is sealed, else plain JSON."""
    event = ReportReceived.of(report, accepted_at=datetime.now(UTC))
    key = report.careline_report_id
    publishing = _publish_sealed(broker, event, key, keyring) if keyring else publish_event(broker, event, REPORTS, key)
    try:
        await asyncio.wait_for(publishing, timeout=timeout_seconds)
    except Exception as exc:  # any failure to get the broker's ack means "not accepted"
        raise KafkaUnavailable(type(exc).__name__) from exc
    return event
