"""Intake HTTP API: POST /v1/reports answers 202 only once Kafka has durably accepted the report."""

import time

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from services.intake.clocks import with_clocks
from services.intake.inbound import make_inbound_processor
from services.intake.metrics import INTAKE_LATENCY, INTAKE_REQUESTS
from services.intake.publishing import KafkaUnavailable, publish_report
from services.intake.settings import IntakeSettings
from services.intake.status import report_status
from shared.consuming import consume
from shared.events import CarelineReport
from shared.http import BrokerConnection, broker_service_app, validation_problem
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.settings import DatabaseSettings, KafkaSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store
from shared.store.timeline import timeline
from shared.topics import CARELINE_INBOUND

log = structlog.get_logger(__name__)


def create_app(settings: IntakeSettings | None = None, kafka: KafkaSettings | None = None) -> FastAPI:
    settings = settings or IntakeSettings()
    kafka = kafka or KafkaSettings()
    broker = make_broker("intake", kafka)
    connection = BrokerConnection(broker)
    if settings.consume_inbound_topic:
        consume(connection, [CARELINE_INBOUND], "intake-inbound", make_inbound_processor(broker, kafka))
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    store = Store(sessions)

    app = broker_service_app("Careline DMST intake", connection, closing=[engine.dispose], version="1")

    @app.post("/v1/reports", status_code=202)
    async def submit_report(request: Request) -> JSONResponse:
        started = time.perf_counter()
        body = await request.body()
        if len(body) > settings.max_body_bytes:
            INTAKE_REQUESTS.labels("http", "too_large").inc()
            return JSONResponse({"error": f"request body over {settings.max_body_bytes} bytes"}, status_code=413)
        try:
            report = CarelineReport.model_validate_json(body)
        except ValidationError as exc:
            INTAKE_REQUESTS.labels("http", "invalid").inc()
            problems = validation_problem(RequestValidationError(exc.errors(include_input=False)))
            return JSONResponse(
                {
                    "error": "invalid Careline report",
                    "problems": problems,
                    "what_to_do": "correct the listed fields and send the report again",
                },
                status_code=422,
            )
        if not connection.ready:
            INTAKE_REQUESTS.labels("http", "unavailable").inc()
            return _unavailable("Kafka is not connected yet")
        try:
            await publish_report(broker, report, kafka.publish_timeout_seconds)
        except KafkaUnavailable as exc:
            INTAKE_REQUESTS.labels("http", "unavailable").inc()
            log.error("report_not_accepted", report_id=report.careline_report_id, error_type=str(exc))
            return _unavailable("Kafka did not acknowledge the report")
        INTAKE_REQUESTS.labels("http", "accepted").inc()
        INTAKE_LATENCY.labels("http").observe(time.perf_counter() - started)
        log.info("report_accepted", report_id=report.careline_report_id)
        report_id = report.careline_report_id
        return JSONResponse(
            {
                "report_id": report_id,
                "status": "accepted",
                "status_url": f"{settings.public_base_url.rstrip('/')}/v1/reports/{report_id}",
            },
            status_code=202,
        )

    @app.get("/v1/reports/{report_id}")
    async def get_report(report_id: str) -> JSONResponse:
        status = await report_status(store, report_id)
        if status is None:
            return JSONResponse(
                {
                    "error": f"no routed report {report_id!r} yet",
                    "what_to_do": "a report accepted seconds ago may still be routing; try again shortly",
                },
                status_code=404,
            )
        return JSONResponse(await with_clocks(sessions, status))

    @app.get("/v1/reports/{report_id}/timeline")
    async def get_timeline(report_id: str) -> JSONResponse:
        """Every step of the report's story in order: ids, times and outcomes, no personal data."""
        steps = await timeline(sessions, report_id)
        if steps is None:
            return JSONResponse({"error": f"no routed report {report_id!r}"}, status_code=404)
        return JSONResponse({"report_id": report_id, "steps": [s.as_json() for s in steps]})

    return app


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
    from shared.http import serve

    enforce_startup_checks("intake")
    configure_logging("intake")
    settings = IntakeSettings()
    serve(create_app(settings), settings.host, settings.port)
