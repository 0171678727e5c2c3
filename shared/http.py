"""What every service's HTTP side shares: health, Prometheus metrics, clear 422s, and a runner."""

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from typing import Any

import structlog
import uvicorn
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from faststream.kafka import KafkaBroker
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from shared.metrics_access import MetricsAccess, MetricsSettings
from shared.settings import current_environment
from shared.stream.engine import StreamConsumer
from shared.stream.quiet import quiet_kafka_connection_logs
from shared.telemetry import configure_telemetry

log = structlog.get_logger(__name__)


def validation_problem(exc: RequestValidationError) -> list[dict[str, str]]:
    """Say which field is wrong and why, never echoing the submitted value (it may be personal data)."""
    problems = []
    for error in exc.errors():
        location = ".".join(str(part) for part in error.get("loc", ()) if part != "body")
        problems.append({"field": location or "(body)", "problem": str(error.get("msg", "invalid"))})
    return problems


def add_common_routes(app: FastAPI, readiness: Callable[[], bool | tuple[bool, str]]) -> None:
    configure_telemetry()  # no-op unless enabled; FastAPI then traces requests, continuing the caller's trace

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            status_code=422,
            content={
                "error": "invalid request body",
                "problems": validation_problem(exc),
                "what_to_do": "correct the listed fields and send the request again",
            },
        )

    @app.get("/healthz", include_in_schema=False)
    async def _health() -> JSONResponse:
        answer = readiness()
        ready, status = answer if isinstance(answer, tuple) else (answer, "ok" if answer else "starting")
        return JSONResponse({"status": status}, status_code=200 if ready else 503)

    access = MetricsAccess(MetricsSettings(), current_environment())  # a Bearer token, or open in local/test only

    @app.get("/metrics", include_in_schema=False)
    async def _metrics(request: Request) -> Response:
        return access.refusal(request) or Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


class BrokerConnection:
    """Starts a FastStream broker (the producer) and the service's stream consumers in the background, retrying
    with capped backoff until Kafka answers.

    A service's HTTP side comes up even while Kafka is down, so intake can answer 503 instead of refusing
    connections, and health checks can say 'starting' or 'kafka unreachable'.
    """

    def __init__(
        self,
        broker: KafkaBroker,
        on_ready: Callable[[], Awaitable[None]] | None = None,
        consumers: Sequence[StreamConsumer] = (),
    ) -> None:
        self.broker = broker
        self.ready = False
        self._on_ready = on_ready
        self._task: asyncio.Task[None] | None = None
        self.consumers: list[StreamConsumer] = list(consumers)
        self.kafka_logs = quiet_kafka_connection_logs()
        # Set when shutdown begins, before in-flight handlers are waited for: a handler that is only waiting
        # (to retry) gives its record back instead of holding the shutdown up.
        self.stopping = asyncio.Event()

    def add_consumer(self, consumer: StreamConsumer) -> StreamConsumer:
        self.consumers.append(consumer)
        return consumer

    async def _start(
        self, what: str, start: Callable[[], Awaitable[None]], stop: Callable[[], Awaitable[None]]
    ) -> None:
        delay = 0.5
        while True:
            try:
                await start()
                return
            except Exception as exc:
                log.warning("kafka_connect_failed", part=what, error_type=type(exc).__name__, retry_in_seconds=delay)
                with contextlib.suppress(Exception):
                    await stop()
                await asyncio.sleep(delay * (0.5 + random.random() / 2))
                delay = min(delay * 2, 5.0)

    async def _connect(self) -> None:
        await self._start("producer", self.broker.start, self.broker.stop)
        for consumer in self.consumers:
            await self._start(consumer.name, consumer.start, consumer.reset)
        if self._on_ready:
            await self._on_ready()
        self.ready = True
        log.info("kafka_connected", consumers=len(self.consumers))

    def health(self) -> tuple[bool, str]:
        if not self.ready:
            return False, "starting"
        if self.kafka_logs.unreachable_for(10.0):
            return False, "kafka unreachable"
        stalled = [c.name for c in self.consumers if c.stalled_for() > 0]
        if stalled:
            return False, f"consumer stalled: {', '.join(stalled)}"
        return True, "ok"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator["BrokerConnection"]:
        self._task = asyncio.create_task(self._connect())
        try:
            yield self
        finally:
            self.stopping.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            # Consumers first: the records in hand finish (they may still publish), then the producer goes.
            await asyncio.gather(*(c.stop() for c in self.consumers if c.started), return_exceptions=True)
            await self.broker.stop()


def broker_service_app(
    title: str,
    connection: BrokerConnection,
    *,
    closing: Sequence[Callable[[], Awaitable[None]]] = (),
    background: Callable[[], Coroutine[Any, Any, None]] | None = None,
    version: str = "0.1.0",
) -> FastAPI:
    """A service on Kafka: its lifespan connects the broker (in the background, see BrokerConnection), runs an
    optional background loop while it lives, and on shutdown stops the broker first (so no handler is mid-write)
    and then closes ``closing`` in order. Health says ready once Kafka answered."""

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with connection.running():
            task = asyncio.create_task(background()) if background else None
            try:
                yield
            finally:
                if task is not None:
                    task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
        for close in closing:
            await close()

    app = FastAPI(title=title, version=version, lifespan=lifespan)
    add_common_routes(app, connection.health)
    return app


# The standard asyncio event loop, never uvloop: on uvloop a write to a connection the broker has closed raises
# RuntimeError where asyncio raises nothing, aiokafka does not expect it (aio-libs/aiokafka#1038), and the
# client's metadata task dies; its consumer then waits for metadata forever, silently, after a broker restart
# (seen in tests/fault/test_broker_faults.py: the router stopped consuming for good).
EVENT_LOOP = "asyncio"


def serve(app: FastAPI, host: str, port: int, graceful_seconds: int = 30) -> None:
    """Run one service; SIGTERM triggers a graceful shutdown through the app's lifespan. Requests still open
    after ``graceful_seconds`` are cut off (their callers retry), so a hung client cannot hold a shutdown up.
    Like any uvicorn app, the process then exits by the signal it was sent (returncode -15 on SIGTERM)."""
    uvicorn.run(
        app,
        host=host,
        port=port,
        log_level="warning",
        access_log=False,
        lifespan="on",
        loop=EVENT_LOOP,
        timeout_graceful_shutdown=graceful_seconds,
    )
