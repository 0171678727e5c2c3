"""Publishing a report so that 'accepted' means Kafka has it on every in-sync replica."""

import asyncio
from datetime import UTC, datetime

from faststream.kafka import KafkaBroker

from shared.events import CarelineReport, ReportReceived
from shared.publishing import publish_event
from shared.topics import REPORTS


class KafkaUnavailable(ConnectionError):
    """Kafka did not acknowledge the report in time: the caller must not be told it was accepted."""


async def publish_report(broker: KafkaBroker, report: CarelineReport, timeout_seconds: float) -> ReportReceived:
    event = ReportReceived.of(report, accepted_at=datetime.now(UTC))
    try:
        await asyncio.wait_for(
            publish_event(broker, event, REPORTS, report.careline_report_id),
            timeout=timeout_seconds,
        )
    except Exception as exc:  # any failure to get the broker's ack means "not accepted"
        raise KafkaUnavailable(type(exc).__name__) from exc
    return event
