"""POST /v1/acks: verify the agency's signature, record the acknowledgement once, publish it."""

import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.acks.metrics import ACKS, TIME_TO_ACK
from services.acks.settings import AcksSettings
from shared.directory.endpoints import EndpointNotConfigured, EndpointRegistry
from shared.events import AcknowledgementRecorded, AckRequest
from shared.http import BrokerConnection, add_common_routes, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.settings import DatabaseSettings, KafkaSettings
from shared.signing import SignatureInvalid, verify_signature
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store
from shared.topics import ACKNOWLEDGEMENTS

log = structlog.get_logger(__name__)


def _refuse(status: int, error: str, outcome: str) -> JSONResponse:
    ACKS.labels(outcome).inc()
    return JSONResponse({"error": error}, status_code=status)


def create_app(settings: AcksSettings | None = None) -> FastAPI:
    settings = settings or AcksSettings()
    kafka = KafkaSettings()
    broker = make_broker("acks", kafka)
    connection = BrokerConnection(broker)
    engine = make_engine(DatabaseSettings().database_url)
    store = Store(make_session_factory(engine))
    endpoints = EndpointRegistry()

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with connection.running():
            yield
        await engine.dispose()

    app = FastAPI(title="Careline DMST acknowledgements", lifespan=lifespan)
    add_common_routes(app, lambda: connection.ready)

    @app.post("/v1/acks")
    async def acknowledge(request: Request) -> JSONResponse:
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            return _refuse(413, f"body over {settings.max_body_bytes} bytes", "too_large")
        try:
            ack = AckRequest.model_validate_json(body)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)})
            return _refuse(422, f"invalid acknowledgement; check fields: {', '.join(fields)}", "invalid")
        notification = await store.notification(ack.notification_id)
        if notification is None:
            log.warning("ack_refused_unknown_notification", notification_id=ack.notification_id)
            return _refuse(404, "unknown notification_id", "unknown_notification")
        try:
            secrets = endpoints.get(ack.agency_id).ack_secrets
            verify_signature(secrets, body, dict(request.headers))
        except (SignatureInvalid, EndpointNotConfigured) as exc:
            log.warning("ack_refused_bad_signature", agency_id=ack.agency_id, problem=str(exc))
            return _refuse(401, f"signature not valid: {exc}", "bad_signature")
        if notification.agency_id != ack.agency_id:
            log.warning("ack_refused_wrong_agency", notification_id=ack.notification_id, agency_id=ack.agency_id)
            return _refuse(403, "this notification was not sent to your agency", "wrong_agency")
        if notification.acknowledged_at is not None:
            return JSONResponse(
                {"status": "already_acknowledged", "acknowledged_at": notification.acknowledged_at.isoformat()}
            )
        if not connection.ready:
            return _refuse(503, "acknowledgement not recorded: Kafka not connected; retry", "unavailable")
        now = datetime.now(UTC)
        event = AcknowledgementRecorded(
            notification_id=ack.notification_id,
            report_id=notification.report_id,
            agency_id=ack.agency_id,
            acknowledged_at=now,
        )
        try:
            await broker.publish(
                event.model_dump_json().encode(),
                ACKNOWLEDGEMENTS,
                key=notification.report_id.encode(),
                headers={"content-type": "application/json"},
            )
        except Exception as exc:
            log.error("ack_publish_failed", error_type=type(exc).__name__)
            return _refuse(503, "acknowledgement not recorded: Kafka unavailable; retry", "unavailable")
        created = await store.record_acknowledgement(
            notification_id=ack.notification_id,
            agency_id=ack.agency_id,
            acknowledged_by=ack.acknowledged_by,
            note=ack.note,
            webhook_id=request.headers.get("webhook-id", ""),
            at=now,
        )
        if not created:
            return JSONResponse({"status": "already_acknowledged"})
        ACKS.labels("recorded").inc()
        TIME_TO_ACK.labels(notification.recipient_kind).observe((now - notification.created_at).total_seconds())
        log.info("acknowledgement_recorded", notification_id=ack.notification_id, agency_id=ack.agency_id)
        return JSONResponse({"status": "recorded", "acknowledged_at": now.isoformat()})

    return app


def main() -> None:
    configure_logging("acks")
    settings = AcksSettings()
    serve(create_app(settings), settings.host, settings.port)
