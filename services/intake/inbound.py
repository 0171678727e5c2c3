"""The Kafka way in: Careline systems that publish to a topic instead of calling the HTTP API."""

import json

from faststream.kafka import KafkaBroker, KafkaMessage
from pydantic import ValidationError

from services.intake.metrics import INTAKE_REQUESTS
from services.intake.publishing import publish_report
from shared.consuming import PoisonMessage
from shared.events import CarelineReport
from shared.settings import KafkaSettings


def make_inbound_processor(broker: KafkaBroker, kafka: KafkaSettings):  # type: ignore[no-untyped-def]
    async def process(msg: KafkaMessage) -> None:
        try:
            report = CarelineReport.model_validate(json.loads(msg.body))
        except json.JSONDecodeError as exc:
            INTAKE_REQUESTS.labels("kafka", "invalid").inc()
            raise PoisonMessage("invalid_json", f"not JSON: {exc.msg} at position {exc.pos}") from exc
        except ValidationError as exc:
            INTAKE_REQUESTS.labels("kafka", "invalid").inc()
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors(include_input=False))
            raise PoisonMessage("schema_invalid", problems[:1000]) from exc
        await publish_report(broker, report, kafka.publish_timeout_seconds)
        INTAKE_REQUESTS.labels("kafka", "accepted").inc()

    return process
