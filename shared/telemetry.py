"""OpenTelemetry tracing: one trace per report, from intake through Kafka to the agency's acknowledgement.

Enabled when an OTLP endpoint is configured (``OTEL_EXPORTER_OTLP_ENDPOINT`` or
``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``) or ``TELEMETRY_ENABLED=true``; otherwise nothing is installed and the
services pay nothing. The trace context travels in Kafka headers (FastStream's KafkaTelemetryMiddleware) and in
HTTP headers (W3C traceparent: httpx instrumented on the way out; FastAPI's own telemetry extracts it on the
way in and names server spans by route template, never by path), and every log line
written inside a span carries its trace id. Spans carry ids and topics only, never message bodies.
"""

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import structlog
from faststream.kafka.opentelemetry import KafkaTelemetryMiddleware
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor, SpanExporter

_provider: TracerProvider | None = None


def telemetry_enabled() -> bool:
    return bool(
        os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
        or os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or os.environ.get("TELEMETRY_ENABLED", "").lower() in ("1", "true", "yes")
    )


def configure_telemetry(service: str | None = None, exporter: SpanExporter | None = None) -> TracerProvider | None:
    """Install the tracer provider once per process; None when telemetry is off.

    ``exporter`` is for tests (an in-memory exporter, spans exported synchronously); otherwise OTLP over HTTP,
    configured by the standard OTEL_* variables.
    """
    global _provider
    if _provider is not None:
        if exporter is not None:
            _provider.add_span_processor(SimpleSpanProcessor(exporter))
        return _provider
    if exporter is None and not telemetry_enabled():
        return None
    name = os.environ.get("OTEL_SERVICE_NAME") or service or "careline"
    provider = TracerProvider(resource=Resource.create({"service.name": name}))
    if exporter is not None:
        provider.add_span_processor(SimpleSpanProcessor(exporter))
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _log_trace_ids()
    _provider = provider
    return provider


def kafka_middlewares(service: str) -> tuple[KafkaTelemetryMiddleware, ...]:
    """FastStream middleware for a broker: a span per publish and consume, context in the Kafka headers."""
    provider = configure_telemetry(service)
    return (KafkaTelemetryMiddleware(tracer_provider=provider),) if provider else ()


def add_trace_ids(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the current trace and span id on every log line written inside a span."""
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event_dict["trace_id"] = format(context.trace_id, "032x")
        event_dict["span_id"] = format(context.span_id, "016x")
    return event_dict


def _log_trace_ids() -> None:
    processors = list(structlog.get_config()["processors"])
    if add_trace_ids not in processors:
        structlog.configure(processors=[add_trace_ids, *processors])


def traced(handle: Callable[[Any], Awaitable[None]], group_id: str) -> Callable[[Any], Awaitable[None]]:
    """A consumer span per record, continuing the producer's trace from the record's headers (W3C traceparent).
    The handle is returned untouched when telemetry is off."""
    provider = configure_telemetry()
    if provider is None:
        return handle
    tracer = provider.get_tracer("careline.stream")

    async def run(record: Any) -> None:
        carrier = {key: value.decode(errors="replace") for key, value in record.headers or () if value is not None}
        with tracer.start_as_current_span(
            f"{record.topic} process",
            context=propagate.extract(carrier),
            kind=trace.SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.destination.name": record.topic,
                "messaging.consumer.group.name": group_id,
                "messaging.kafka.offset": record.offset,
                "messaging.destination.partition.id": str(record.partition),
            },
        ):
            await handle(record)

    return run
