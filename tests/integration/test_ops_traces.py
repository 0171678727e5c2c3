"""One report, one trace: intake, router, every notifier, the agency's webhook and the acknowledgement.

The pipeline's processes export their spans over OTLP/HTTP to a receiver in this test, which keeps them in
memory; the trace context has to cross Kafka (headers) and HTTP (traceparent) for the spans to share an id.
"""

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from devtools.runner.samples import sample_report
from tests.helpers import eventually

pytestmark = pytest.mark.integration


@dataclass(frozen=True)
class Span:
    service: str
    name: str
    trace_id: str


class SpanStore:
    """An in-memory OTLP/HTTP trace receiver."""

    def __init__(self) -> None:
        self.spans: list[Span] = []
        self.lock = threading.Lock()

    def add(self, body: bytes) -> None:
        request = ExportTraceServiceRequest.FromString(body)
        for resource_spans in request.resource_spans:
            service = next(
                (a.value.string_value for a in resource_spans.resource.attributes if a.key == "service.name"), "?"
            )
            for scope in resource_spans.scope_spans:
                with self.lock:
                    self.spans += [Span(service, s.name, s.trace_id.hex()) for s in scope.spans]

    def snapshot(self) -> list[Span]:
        with self.lock:
            return list(self.spans)


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[str, SpanStore]]:
    store = SpanStore()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            store.add(self.rfile.read(int(self.headers.get("content-length", "0"))))
            self.send_response(200)
            self.send_header("content-type", "application/x-protobuf")
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", store
    server.shutdown()


@pytest.fixture(scope="module")
def traced_pipeline(
    own_broker: KafkaHandle, postgres: PostgresHandle, work_dir: Path, receiver: tuple[str, SpanStore]
) -> Iterator[Pipeline]:
    config = PipelineConfig(
        own_broker.bootstrap_servers,
        postgres.create_database("traces"),
        work_dir / "traces-pipeline",
        ack_delay_seconds=0.2,
        environment="test",
        extra_env={"OTEL_EXPORTER_OTLP_ENDPOINT": receiver[0], "OTEL_BSP_SCHEDULE_DELAY": "200"},
    )
    running = Pipeline(config)
    running.start(timeout=180)
    yield running
    running.stop()


async def test_one_reports_spans_from_intake_to_acknowledgement_share_one_trace(
    traced_pipeline: Pipeline, receiver: tuple[str, SpanStore]
) -> None:
    store = receiver[1]
    report = sample_report("CL-TRACE-0001", "Bristol")
    async with httpx.AsyncClient(timeout=30) as client:
        assert (await client.post(f"{traced_pipeline.url('intake')}/v1/reports", json=report)).status_code == 202

    def trace_of_report() -> str | None:
        roots = [s for s in store.snapshot() if s.service == "intake" and s.name == "POST /v1/reports"]
        return roots[0].trace_id if roots else None

    wanted = {"intake", "router", "notifier"}
    wanted |= {"recipient-sim", "acks"}

    async def whole_trace_seen() -> bool:
        trace_id = trace_of_report()
        services = {s.service for s in store.snapshot() if s.trace_id == trace_id}
        acked = any(s.service == "acks" and "acknowledgements" in s.name for s in store.snapshot())
        return trace_id is not None and wanted <= services and acked

    seen = await eventually(whole_trace_seen, timeout=90)
    trace_id = trace_of_report()
    in_trace = sorted({(s.service, s.name) for s in store.snapshot() if s.trace_id == trace_id})
    print("\nspans of one report:\n  " + "\n  ".join(f"{svc}: {name}" for svc, name in in_trace))
    assert seen, in_trace
    # Every other trace is a health or breaker probe (GET): the report's work happened in its one trace.
    probes = {s.trace_id for s in store.snapshot() if s.name.startswith("GET ")}
    assert {s.trace_id for s in store.snapshot() if s.service in wanted} - probes == {trace_id}
    assert any(svc == "acks" and "acknowledgements" in name for svc, name in in_trace)

    log = (traced_pipeline.config.work_dir / "logs" / "notifier.log").read_text()
    assert f'"trace_id": "{trace_id}"' in log or f'"trace_id":"{trace_id}"' in log
