"""Trace context crosses Kafka in the message headers: a consumer's spans, its onward publish and its log
lines carry the publisher's trace id (FastStream's test broker, in-memory span exporter)."""

import asyncio
from typing import Any

import structlog
from faststream.kafka import TestKafkaBroker
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from shared.kafka import make_broker
from shared.telemetry import configure_telemetry


def test_spans_of_a_publish_consume_publish_chain_share_one_trace_id() -> None:
    exporter = InMemorySpanExporter()
    configure_telemetry("unit", exporter=exporter)
    broker = make_broker("unit")
    logged: list[Any] = []

    @broker.subscriber("careline.reports.v1", group_id="router")
    async def route(body: str) -> None:
        with structlog.testing.capture_logs(processors=[*structlog.get_config()["processors"][:1]]) as logs:
            structlog.get_logger().info("routed")
        logged.extend(logs)
        await broker.publish(body, "notifications.hart.v1")

    @broker.subscriber("notifications.hart.v1", group_id="notifier-hart")
    async def deliver(body: str) -> None:
        return None

    async def run() -> None:
        async with TestKafkaBroker(broker) as test_broker:
            await test_broker.publish("report", "careline.reports.v1")
            await asyncio.sleep(0.2)

    asyncio.run(run())
    spans = exporter.get_finished_spans()
    names = {span.name for span in spans}
    assert {"careline.reports.v1 publish", "careline.reports.v1 process", "notifications.hart.v1 process"} <= names
    trace_ids = {format(span.context.trace_id, "032x") for span in spans if span.context}
    assert len(trace_ids) == 1
    assert logged and logged[0]["trace_id"] in trace_ids
