"""POST /v1/acks and the one-click link: verify who is acknowledging, record it once, publish it."""

import uuid
from datetime import UTC, datetime

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.acks.metrics import ACKS, TIME_TO_ACK
from services.acks.settings import AcksSettings
from shared.acklinks import AckLinkSettings, LinkInvalid, verify_token
from shared.directory.endpoints import EndpointNotConfigured, EndpointRegistry
from shared.events import AcknowledgementRecorded, AckRequest
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.publishing import publish_event
from shared.settings import DatabaseSettings, KafkaSettings
from shared.signing import SignatureInvalid, verify_signature
from shared.store.acknowledging import AckInput, AckOutcome, record_ack, webhook_id_seen
from shared.store.engine import make_engine, make_session_factory
from shared.store.models import NotificationRecord
from shared.store.repository import Store
from shared.topics import ACKNOWLEDGEMENTS

log = structlog.get_logger(__name__)

ONE_CLICK_ACTOR = "one-click link"


def _refuse(status: int, error: str, outcome: str) -> JSONResponse:
    ACKS.labels(outcome).inc()
    return JSONResponse({"error": error}, status_code=status)


def create_app(settings: AcksSettings | None = None) -> FastAPI:
    settings = settings or AcksSettings()
    kafka = KafkaSettings()
    broker = make_broker("acks", kafka)
    connection = BrokerConnection(broker)
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    store = Store(sessions)
    endpoints = EndpointRegistry()
    links = AckLinkSettings()  # refuses the committed secret in production

    app = broker_service_app("Careline DMST acknowledgements", connection, closing=[engine.dispose])

    async def record(
        notification: NotificationRecord, *, by: str, note: str | None, webhook_id: str, channel: str
    ) -> JSONResponse:
        """Publish first (the event must exist before the ack is final), then record in one transaction."""
        now = datetime.now(UTC)
        if notification.acknowledged_at is None:
            if not connection.ready:
                return _refuse(503, "acknowledgement not recorded: Kafka not connected; retry", "unavailable")
            event = AcknowledgementRecorded(
                notification_id=notification.notification_id,
                report_id=notification.report_id,
                agency_id=notification.agency_id,
                acknowledged_at=now,
            )
            try:
                await publish_event(broker, event, ACKNOWLEDGEMENTS, notification.report_id)
            except Exception as exc:
                log.error("ack_publish_failed", error_type=type(exc).__name__)
                return _refuse(503, "acknowledgement not recorded: Kafka unavailable; retry", "unavailable")
        outcome = await record_ack(
            sessions,
            AckInput(
                notification_id=notification.notification_id,
                report_id=notification.report_id,
                agency_id=notification.agency_id,
                acknowledged_by=by,
                note=note,
                webhook_id=webhook_id,
                at=now,
                deadline_at=notification.deadline_at,
                channel=channel,
            ),
        )
        if outcome is AckOutcome.REPLAYED:
            log.warning("ack_refused_replay", notification_id=notification.notification_id)
            return _refuse(409, "webhook-id already used: replayed acknowledgement refused", "replayed")
        if outcome is AckOutcome.ALREADY_ACKNOWLEDGED:
            ACKS.labels("already_acknowledged").inc()
            current = await store.notification(notification.notification_id)
            at = current.acknowledged_at if current and current.acknowledged_at else now
            return JSONResponse({"status": "already_acknowledged", "acknowledged_at": at.isoformat()})
        ACKS.labels("recorded").inc()
        TIME_TO_ACK.labels(notification.recipient_kind).observe((now - notification.created_at).total_seconds())
        log.info(
            "acknowledgement_recorded",
            notification_id=notification.notification_id,
            agency_id=notification.agency_id,
            channel=channel,
        )
        return JSONResponse({"status": "recorded", "acknowledged_at": now.isoformat()})

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
        webhook_id = request.headers.get("webhook-id", "")
        if await webhook_id_seen(sessions, webhook_id):
            log.warning("ack_refused_replay", notification_id=ack.notification_id, agency_id=ack.agency_id)
            return _refuse(409, "webhook-id already used: replayed acknowledgement refused", "replayed")
        return await record(
            notification, by=ack.acknowledged_by, note=ack.note, webhook_id=webhook_id, channel="webhook"
        )

    @app.get("/v1/acks/link/{token}")
    async def acknowledge_by_link(token: str) -> JSONResponse:
        """Opening the link acknowledges: the token itself is the proof (HMAC, agency-bound, expiring)."""
        try:
            claim = verify_token(links.secret.get_secret_value(), token)
        except LinkInvalid as exc:
            expired = str(exc) == "link expired"
            log.warning("ack_link_refused", problem=str(exc))
            return _refuse(410 if expired else 403, str(exc), "link_expired" if expired else "link_invalid")
        notification = await store.notification(claim.notification_id)
        if notification is None or notification.agency_id != claim.agency_id:
            log.warning("ack_link_refused_unknown", notification_id=claim.notification_id)
            return _refuse(404, "unknown notification", "unknown_notification")
        click_id = f"link:{claim.notification_id}:{uuid.uuid4().hex}"
        return await record(notification, by=ONE_CLICK_ACTOR, note=None, webhook_id=click_id, channel=ONE_CLICK_ACTOR)

    return app


def main() -> None:
    enforce_startup_checks("acks")
    configure_logging("acks")
    settings = AcksSettings()
    serve(create_app(settings), settings.host, settings.port)
