"""POST /v1/acks and the one-click link: verify who is acknowledging, record it once, publish it."""

import functools
import hmac
import json
import uuid
from datetime import UTC, datetime
from urllib.parse import parse_qs

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import ValidationError

from services.acks.confirmation import LINK_PAGE_HEADERS, confirmation_page, cross_site_problem
from services.acks.metrics import ACKS, TIME_TO_ACK
from services.acks.settings import AcksSettings
from shared.acklinks import AckLinkSettings, LinkClaim, LinkInvalid, verify_token
from shared.api_docs import hide_docs_in_production, json_body
from shared.database_outage import answer_database_outage
from shared.directory.endpoints import EndpointNotConfigured, EndpointRegistry
from shared.events import AcknowledgementRecorded, AckRequest
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.publishing import publish_event
from shared.request_limits import BodyTooLarge, BodyTooSlow, read_body_capped
from shared.settings import DatabaseSettings, KafkaSettings, current_environment
from shared.signing import SignatureInvalid, verify_signature
from shared.store.acknowledging import (
    AckInput,
    AckOutcome,
    AckTarget,
    find_target,
    notifications_and_replays,
    record_acks,
)
from shared.store.batching import Coalescer
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store
from shared.topics import ACKNOWLEDGEMENTS

log = structlog.get_logger(__name__)

ONE_CLICK_ACTOR = "one-click link"
BAD_SIGNATURE = "signature not valid"
UNKNOWN_NOTIFICATION = "unknown notification_id"
NOTE_NOT_STORED = "the note was not stored: free text may hold personal data; keep it in your own system"


def _with_note_notice(response: JSONResponse, had_note: bool) -> JSONResponse:
    if not had_note:
        return response
    content = json.loads(bytes(response.body))
    content["note"] = NOTE_NOT_STORED
    return JSONResponse(content, status_code=response.status_code)


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
    # Acknowledgements arriving together are looked up and recorded together (group commit): a few statements
    # per batch instead of nine per acknowledgement, each one's outcome as if it came alone.
    lookups = Coalescer(functools.partial(notifications_and_replays, sessions))
    recorder = Coalescer(functools.partial(record_acks, sessions))

    app = broker_service_app("Careline DMST acknowledgements", connection, closing=[engine.dispose])
    hide_docs_in_production(app, current_environment())
    answer_database_outage(app, "acknowledgement not recorded")  # PostgreSQL away: 503 + Retry-After, never a 500

    async def record(notification: AckTarget, *, by: str, webhook_id: str, channel: str) -> JSONResponse:
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
        outcome = await recorder.submit(
            AckInput(
                notification_id=notification.notification_id,
                report_id=notification.report_id,
                agency_id=notification.agency_id,
                acknowledged_by=by,
                note=None,  # free text is never stored: it may name people (issue 12)
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

    @app.post("/v1/acks", openapi_extra=json_body(AckRequest))
    async def acknowledge(request: Request) -> JSONResponse:
        """Signature first (the agency named in the body, its own ack secrets), only then the lookup: an unsigned
        caller learns nothing about which notifications exist. The free-text `note` is accepted but not stored."""
        try:
            body = await read_body_capped(request, settings.max_body_bytes)
        except BodyTooLarge:
            return _refuse(413, f"body over {settings.max_body_bytes} bytes", "too_large")
        except BodyTooSlow as exc:
            return _refuse(408, str(exc), "too_slow")
        try:
            ack = AckRequest.model_validate_json(body)
        except ValidationError as exc:
            fields = sorted({".".join(map(str, e["loc"])) for e in exc.errors(include_input=False)})
            return _refuse(422, f"invalid acknowledgement; check fields: {', '.join(fields)}", "invalid")
        try:
            secrets = endpoints.get(ack.agency_id).ack_secrets
            verify_signature(secrets, body, dict(request.headers))
        except (SignatureInvalid, EndpointNotConfigured) as exc:
            log.warning("ack_refused_bad_signature", agency_id=ack.agency_id, error_type=type(exc).__name__)
            return _refuse(401, BAD_SIGNATURE, "bad_signature")  # the same answer for an unknown agency
        webhook_id = request.headers.get("webhook-id", "")
        notification, replayed = await lookups.submit((ack.notification_id, webhook_id))
        if notification is None or notification.agency_id != ack.agency_id:
            # Another agency's notification answers exactly as a missing one: no agency learns what others got.
            outcome = "unknown_notification" if notification is None else "wrong_agency"
            log.warning(f"ack_refused_{outcome}", notification_id=ack.notification_id, agency_id=ack.agency_id)
            return _refuse(404, UNKNOWN_NOTIFICATION, outcome)
        if replayed:
            log.warning("ack_refused_replay", notification_id=ack.notification_id, agency_id=ack.agency_id)
            return _refuse(409, "webhook-id already used: replayed acknowledgement refused", "replayed")
        response = await record(notification, by=ack.acknowledged_by, webhook_id=webhook_id, channel="webhook")
        return _with_note_notice(response, ack.note is not None)

    def _claim(token: str) -> LinkClaim | JSONResponse:
        try:
            return verify_token(links.secret.get_secret_value(), token)
        except LinkInvalid as exc:
            expired = str(exc) == "link expired"
            log.warning("ack_link_refused", problem="link_expired" if expired else "link_invalid")
            return _refuse(410 if expired else 403, str(exc), "link_expired" if expired else "link_invalid")

    @app.get("/v1/acks/link/{token}", response_model=None)
    async def confirm_link(token: str) -> Response:
        """Opening the link only shows a confirmation page: mail scanners and link previews fetch links, and
        must not acknowledge for the agency. The button POSTs the form below (the token travels in it)."""
        claim = _claim(token)
        if isinstance(claim, JSONResponse):
            return claim
        return HTMLResponse(confirmation_page(token, claim), headers=LINK_PAGE_HEADERS)

    @app.post("/v1/acks/link/{token}")
    async def acknowledge_by_link(token: str, request: Request) -> JSONResponse:
        """Only the confirmation page's own POST acknowledges: the form must carry the token (a cross-site form
        cannot know it) and the browser must say the request is same-origin (Origin / Sec-Fetch-Site)."""
        cross_site = cross_site_problem(request, links.base_url)
        if cross_site:
            log.warning("ack_link_refused_cross_site", problem="cross_site")
            return _refuse(403, cross_site, "link_cross_site")
        try:
            form = parse_qs((await read_body_capped(request, 4096)).decode("ascii", "replace"))
        except BodyTooLarge:
            return _refuse(413, "form over 4096 bytes", "too_large")
        except BodyTooSlow as exc:
            return _refuse(408, str(exc), "too_slow")
        if not hmac.compare_digest(form.get("token", [""])[0].encode(), token.encode()):
            return _refuse(403, "the confirmation form's token does not match the link", "link_invalid")
        claim = _claim(token)
        if isinstance(claim, JSONResponse):
            return claim
        notification = await find_target(sessions, claim.notification_id)
        if notification is None or notification.agency_id != claim.agency_id:
            log.warning("ack_link_refused_unknown", notification_id=claim.notification_id)
            return _refuse(404, UNKNOWN_NOTIFICATION, "unknown_notification")
        click_id = f"link:{claim.notification_id}:{uuid.uuid4().hex}"
        return await record(notification, by=ONE_CLICK_ACTOR, webhook_id=click_id, channel=ONE_CLICK_ACTOR)

    return app


def main() -> None:
    enforce_startup_checks("acks", uses=("agencies", "links"))
    configure_logging("acks")
    settings = AcksSettings()
    serve(create_app(settings), settings.host, settings.port)
