"""The Kafka way in: Careline systems that publish to a topic instead of calling the HTTP API.

The Careline's producer seals each report (shared/envelope.py `seal_for_kafka`), so no child's name sits on
`careline.reports.inbound.v1` in the clear. In production an unsealed record is poison: dead-lettered with the
reason `inbound_not_sealed` (the dead letter holds the reason, size and hash, never the contents) and the
partition moves on. In local/test an unsealed record still passes, as everywhere the envelope is used.
"""

from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from services.intake.metrics import INTAKE_REQUESTS
from services.intake.publishing import publish_report
from shared.consuming import PoisonMessage, parse_event
from shared.envelope import EnvelopeError, Keyring, UnsealedRecord, open_record
from shared.events import CarelineReport
from shared.settings import Environment, KafkaSettings, current_environment

NOT_SEALED = "inbound_not_sealed"
UNREADABLE = "inbound_unreadable_envelope"


def open_inbound(record: ConsumerRecord[bytes, bytes], keyring: Keyring | None, environment: Environment) -> bytes:
    """The report JSON of one inbound record; a record that cannot be opened is poison (it never will be)."""
    try:
        return open_record(record.value or b"", record.headers, keyring, environment=environment)
    except UnsealedRecord:
        INTAKE_REQUESTS.labels("kafka", "not_sealed").inc()
        raise PoisonMessage(NOT_SEALED, "production accepts only sealed records on the inbound topic") from None
    except EnvelopeError as exc:  # its message names the algorithm or key id at most, never the contents
        INTAKE_REQUESTS.labels("kafka", "unreadable").inc()
        raise PoisonMessage(UNREADABLE, str(exc)[:200]) from None


def make_inbound_processor(  # type: ignore[no-untyped-def]
    broker: KafkaBroker, kafka: KafkaSettings, keyring: Keyring | None = None, environment: Environment | None = None
):
    environment = environment or current_environment()

    async def process(record: ConsumerRecord[bytes, bytes]) -> None:
        body = open_inbound(record, keyring, environment)
        try:
            report = parse_event(CarelineReport, body)
        except PoisonMessage:
            INTAKE_REQUESTS.labels("kafka", "invalid").inc()
            raise
        await publish_report(broker, report, kafka.publish_timeout_seconds, keyring)
        INTAKE_REQUESTS.labels("kafka", "accepted").inc()

    return process
