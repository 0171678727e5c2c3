"""Intake HTTP API: POST /v1/reports answers 202 only once Kafka has durably accepted the report."""

import asyncio
import contextlib
import hashlib
import time
from datetime import UTC, datetime, timedelta

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.intake.auth import AuthRefused, Client, IntakeAuth, JwksFetcher, auth_problems
from services.intake.clocks import with_clocks
from services.intake.inbound import make_inbound_processor
from services.intake.metrics import INTAKE_LATENCY, INTAKE_REQUESTS
from services.intake.mtls import server_tls_options
from services.intake.publishing import KafkaUnavailable, publish_report
from services.intake.settings import READ_SCOPE, WRITE_SCOPE, IntakeSettings
from services.intake.status import public_step, report_status
from shared.api_docs import hide_docs_in_production, json_body
from shared.consuming import consume
from shared.database_outage import answer_database_outage
from shared.envelope import Keyring
from shared.events import CarelineReport
from shared.http import EVENT_LOOP, BrokerConnection, broker_service_app, validation_problem
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.request_limits import BodyTooLarge, BodyTooSlow, RateLimiter, read_body_capped, retry_after_header
from shared.settings import DatabaseSettings, KafkaSettings, current_environment
from shared.store.audit_trail import AuditEntry, add_audit
from shared.store.engine import make_engine, make_session_factory
from shared.store.idempotency import Conflict, Replay, claim, complete, release
from shared.store.repository import Store
from shared.store.timeline import timeline
from shared.topics import CARELINE_INBOUND

log = structlog.get_logger(__name__)


def create_app(
    settings: IntakeSettings | None = None,
    kafka: KafkaSettings | None = None,
    *,
    fetch_jwks: JwksFetcher | None = None,
) -> FastAPI:
    settings = settings or IntakeSettings()
    kafka = kafka or KafkaSettings()
    environment = current_environment()
    auth = IntakeAuth(settings, environment, fetch_jwks)
    limiter = RateLimiter(settings.rate_per_second, settings.rate_burst)
    keyring = Keyring.from_settings()
    broker = make_broker("intake", kafka)
    connection = BrokerConnection(broker)
    if settings.consume_inbound_topic:
        consume(connection, [CARELINE_INBOUND], "intake-inbound", make_inbound_processor(broker, kafka, keyring))
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    store = Store(sessions)

    app = broker_service_app("Careline DMST intake", connection, closing=[engine.dispose], version="1")
    hide_docs_in_production(app, environment)
    answer_database_outage(app, "request not completed")  # PostgreSQL away: 503 + Retry-After, never a 500

    async def admit(request: Request, scope: str) -> Client | JSONResponse:
        """Authenticate, then charge the client's bucket: 401/403 or 429 with Retry-After."""
        try:
            client = await auth.require(request, scope)
        except AuthRefused as refused:
            INTAKE_REQUESTS.labels("http", "unauthorized").inc()
            return refused.response()
        wait = limiter.acquire(client.client_id)
        if wait:
            INTAKE_REQUESTS.labels("http", "rate_limited").inc()
            return JSONResponse(
                {"error": "too many requests", "what_to_do": "wait for Retry-After seconds, then send again"},
                status_code=429,
                headers={"Retry-After": retry_after_header(wait)},
            )
        return client

    @app.post("/v1/reports", status_code=202, openapi_extra=json_body(CarelineReport))
    async def submit_report(request: Request) -> JSONResponse:
        """Accept one report. `Idempotency-Key` (optional) and the report id make retries safe: the same
        report again is answered as the first time, other content under the same id or key is a 409."""
        started = time.perf_counter()
        client = await admit(request, WRITE_SCOPE)
        if isinstance(client, JSONResponse):
            return client
        try:
            body = await read_body_capped(request, settings.max_body_bytes, settings.body_timeout_seconds)
        except BodyTooLarge:
            INTAKE_REQUESTS.labels("http", "too_large").inc()
            return JSONResponse({"error": f"request body over {settings.max_body_bytes} bytes"}, status_code=413)
        except BodyTooSlow as exc:
            INTAKE_REQUESTS.labels("http", "too_slow").inc()
            return JSONResponse({"error": str(exc)}, status_code=408)
        idempotency_key = request.headers.get("idempotency-key")
        if idempotency_key is not None and not _valid_key(idempotency_key):
            return JSONResponse({"error": "Idempotency-Key must be 1-200 visible ASCII characters"}, status_code=400)
        try:
            report = CarelineReport.model_validate_json(body)
        except ValidationError as exc:
            INTAKE_REQUESTS.labels("http", "invalid").inc()
            return _invalid(validation_problem(RequestValidationError(exc.errors(include_input=False))))
        now = datetime.now(UTC)
        out_of_bounds = received_at_problem(report.received_at, now, settings)
        if out_of_bounds:
            INTAKE_REQUESTS.labels("http", "invalid").inc()
            return _invalid([{"field": "received_at", "problem": out_of_bounds}])
        report_id = report.careline_report_id
        if not connection.ready:
            INTAKE_REQUESTS.labels("http", "unavailable").inc()
            return _unavailable("Kafka is not connected yet")
        # Accepting needs only Kafka: with the database away, a report is accepted without its idempotency record
        # (a retry then publishes again and the router recognises the repeat by report id and content hash).
        outcome: object = None
        remembered = True
        # An amendment (a higher report_version) is a new submission of the same report, not a retry of the first.
        version = report.report_version
        claim_id = report_id if version == 1 else f"v{version}-{hashlib.sha256(report_id.encode()).hexdigest()[:40]}"
        try:
            async with asyncio.timeout(settings.database_timeout_seconds):
                outcome = await claim(
                    sessions,
                    report_id=claim_id,
                    content_sha256=hashlib.sha256(report.model_dump_json().encode()).hexdigest(),
                    client_id=client.client_id,
                    idempotency_key=idempotency_key,
                    now=now,
                )
        except (SQLAlchemyError, OSError, TimeoutError) as exc:
            remembered = False
            log.warning("idempotency_record_unavailable", report_id=report_id, error_type=type(exc).__name__)
        if isinstance(outcome, Replay):
            INTAKE_REQUESTS.labels("http", "repeated").inc()
            return JSONResponse(outcome.body, status_code=outcome.status, headers={"Idempotent-Replayed": "true"})
        if isinstance(outcome, Conflict):
            INTAKE_REQUESTS.labels("http", "conflict").inc()
            headers = {"Retry-After": "2"} if outcome.in_flight else {}
            what = "retry shortly" if outcome.in_flight else "a correction is a new report id (or an amendment)"
            return JSONResponse({"error": outcome.reason, "what_to_do": what}, status_code=409, headers=headers)
        try:
            event = await publish_report(broker, report, kafka.publish_timeout_seconds, keyring)
        except KafkaUnavailable as exc:
            if remembered:
                with contextlib.suppress(SQLAlchemyError):
                    await release(sessions, claim_id)
            INTAKE_REQUESTS.labels("http", "unavailable").inc()
            log.error("report_not_accepted", report_id=report_id, error_type=str(exc))
            return _unavailable("Kafka did not acknowledge the report")
        answer = {
            "report_id": report_id,
            "status": "accepted",
            "status_url": f"{settings.public_base_url.rstrip('/')}/v1/reports/{report_id}",
        }
        try:
            async with asyncio.timeout(settings.database_timeout_seconds):
                submitted = _submission_audit(report_id, client, event.accepted_at)
                if remembered:  # the answer and the audit row in one transaction
                    await complete(sessions, claim_id, 202, answer, also=lambda session: add_audit(session, submitted))
                else:
                    await _audit_submission(sessions, submitted)
        except (
            SQLAlchemyError,
            OSError,
            TimeoutError,
        ) as exc:  # accepted all the same; a retry re-publishes (the router deduplicates)
            log.error("intake_answer_not_recorded", report_id=report_id, error_type=type(exc).__name__)
            with contextlib.suppress(SQLAlchemyError, OSError, TimeoutError):
                async with asyncio.timeout(settings.database_timeout_seconds):
                    await release(sessions, claim_id)
        INTAKE_REQUESTS.labels("http", "accepted").inc()
        INTAKE_LATENCY.labels("http").observe(time.perf_counter() - started)
        log.info("report_accepted", report_id=report_id, client_id=client.client_id)
        return JSONResponse(answer, status_code=202)

    @app.get("/v1/reports/{report_id}")
    async def get_report(report_id: str, request: Request) -> JSONResponse:
        """Where each recipient stands: ids, states and times only (no names, no reasons)."""
        client = await admit(request, READ_SCOPE)
        if isinstance(client, JSONResponse):
            return client
        status = await report_status(store, report_id)
        if status is None:
            return JSONResponse(
                {
                    "error": "no routed report with this id yet",
                    "what_to_do": "a report accepted seconds ago may still be routing; try again shortly",
                },
                status_code=404,
            )
        return JSONResponse(await with_clocks(sessions, status))

    @app.get("/v1/reports/{report_id}/timeline")
    async def get_timeline(report_id: str, request: Request) -> JSONResponse:
        """Every step of the report's story in order: ids, times and events only."""
        client = await admit(request, READ_SCOPE)
        if isinstance(client, JSONResponse):
            return client
        steps = await timeline(sessions, report_id)
        if steps is None:
            return JSONResponse({"error": "no routed report with this id"}, status_code=404)
        return JSONResponse({"report_id": report_id, "steps": [public_step(s) for s in steps]})

    return app


def _valid_key(key: str) -> bool:
    return 0 < len(key) <= 200 and all(33 <= ord(c) <= 126 for c in key)


def received_at_problem(received_at: datetime, now: datetime, settings: IntakeSettings) -> str | None:
    if received_at > now + timedelta(minutes=settings.received_at_max_future_minutes):
        return f"more than {settings.received_at_max_future_minutes:g} minutes in the future"
    if received_at < now - timedelta(days=settings.received_at_max_age_days):
        return f"more than {settings.received_at_max_age_days} days ago"
    return None


def _invalid(problems: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(
        {
            "error": "invalid Careline report",
            "problems": problems,
            "what_to_do": "correct the listed fields and send the report again",
        },
        status_code=422,
    )


def _submission_audit(report_id: str, client: Client, at: datetime) -> AuditEntry:
    """Who submitted it, at the instant it was accepted (so it sorts right after `accepted` in the timeline)."""
    actor = f"client:{client.client_id}" if client.authenticated else "client:unauthenticated (local/test)"
    return AuditEntry(at, "submitted", actor[:120], f"intake-submitted:{report_id}", report_id=report_id)


async def _audit_submission(sessions: async_sessionmaker[AsyncSession], entry: AuditEntry) -> None:
    try:
        async with sessions() as session, session.begin():
            await add_audit(session, entry)
    except SQLAlchemyError as exc:  # the report is accepted; the audit row is retried by no one: say so loudly
        log.error("intake_audit_not_written", report_id=entry.report_id, error_type=type(exc).__name__)


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        {
            "error": "report NOT accepted",
            "reason": reason,
            "what_to_do": "send the report again; a repeated report id is never notified twice",
        },
        status_code=503,
        headers={"Retry-After": "5"},
    )


def main() -> None:
    settings = IntakeSettings()
    enforce_startup_checks("intake", uses=("envelope",), own_problems=auth_problems(settings, current_environment()))
    configure_logging("intake")
    # shared.http.serve plus the limits an agency-facing API needs (concurrency, keep-alive, header size).
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop=EVENT_LOOP,
        timeout_graceful_shutdown=30,
        limit_concurrency=settings.limit_concurrency,
        timeout_keep_alive=settings.keep_alive_seconds,
        h11_max_incomplete_event_size=16 * 1024,
        **server_tls_options(settings),  # INTAKE_AUTH=mtls: client certificates required against the CA
    )
