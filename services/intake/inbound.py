"""The Kafka way in: Careline systems that publish to a topic instead of calling the HTTP API."""

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from services.intake.metrics import INTAKE_REQUESTS
from services.intake.publishing import publish_report
from shared.consuming import PoisonMessage, parse_event
from shared.envelope import Keyring
from shared.events import CarelineReport
from shared.settings import KafkaSettings


def make_inbound_processor(  # type: ignore[no-untyped-def]
    broker: KafkaBroker, kafka: KafkaSettings, keyring: Keyring | None = None
):
    async def process(record: ConsumerRecord[bytes, bytes]) -> None:
        try:
            report = parse_event(CarelineReport, (record.value or b""))
        except PoisonMessage:
            INTAKE_REQUESTS.labels("kafka", "invalid").inc()
            raise
        await publish_report(broker, report, kafka.publish_timeout_seconds, keyring)
        INTAKE_REQUESTS.labels("kafka", "accepted").inc()

    return process
