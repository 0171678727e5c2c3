"""The one place a Kafka broker is built: idempotent producer, acks=all, TLS/SASL when configured."""

import logging
import ssl
from typing import Any

from faststream.kafka import KafkaBroker
from faststream.security import BaseSecurity, SASLPlaintext, SASLScram256, SASLScram512

from shared.producer_recovery import ProducerRecovery
from shared.settings import KafkaSettings
from shared.stream.quiet import quiet_kafka_connection_logs
from shared.telemetry import kafka_middlewares


def _ssl_context(settings: KafkaSettings) -> ssl.SSLContext | None:
    if settings.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(cafile=str(settings.ssl_cafile) if settings.ssl_cafile else None)
    if settings.ssl_certfile and settings.ssl_keyfile:
        context.load_cert_chain(str(settings.ssl_certfile), str(settings.ssl_keyfile))
    return context


def security_for(settings: KafkaSettings) -> BaseSecurity | None:
    """Map the settings onto FastStream's security objects (None means plaintext on loopback)."""
    context = _ssl_context(settings)
    if settings.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        if not settings.sasl_username or settings.sasl_password is None:
            raise ValueError("KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD are required for SASL")
        cls = {"PLAIN": SASLPlaintext, "SCRAM-SHA-256": SASLScram256, "SCRAM-SHA-512": SASLScram512}[
            settings.sasl_mechanism
        ]
        return cls(
            settings.sasl_username,
            settings.sasl_password.get_secret_value(),
            ssl_context=context,
            use_ssl=context is not None,
        )
    if context is not None:
        return BaseSecurity(ssl_context=context, use_ssl=True)
    return None


def make_broker(service: str, settings: KafkaSettings | None = None, **kwargs: Any) -> KafkaBroker:
    """Every producer is idempotent with acks=all: a 'sent' record is on every in-sync replica.

    With telemetry on, FastStream's telemetry middleware carries the trace context in Kafka headers. A producer
    that aiokafka has given up on is replaced (shared/producer_recovery.py)."""
    settings = settings or KafkaSettings()
    quiet_kafka_connection_logs()
    recovery = ProducerRecovery()
    kwargs.setdefault("middlewares", (*kafka_middlewares(service), recovery.middleware()))
    broker = KafkaBroker(
        [server.strip() for server in settings.bootstrap_servers.split(",")],  # FastStream takes one host per item
        client_id=f"{settings.client_id_prefix}-{service}",
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
        request_timeout_ms=int(settings.publish_timeout_seconds * 1000),
        security=security_for(settings),
        graceful_timeout=30.0,
        log_level=logging.DEBUG,  # per-message "Received/Processed" lines only when debugging
        **kwargs,
    )
    recovery.broker = broker
    return broker


def admin_client_kwargs(settings: KafkaSettings) -> dict[str, Any]:
    """The same security for aiokafka admin clients (topic creation, lag reading)."""
    quiet_kafka_connection_logs()
    kwargs: dict[str, Any] = {"security_protocol": settings.security_protocol}
    context = _ssl_context(settings)
    if context is not None:
        kwargs["ssl_context"] = context
    if settings.security_protocol.startswith("SASL"):
        kwargs["sasl_mechanism"] = settings.sasl_mechanism
        kwargs["sasl_plain_username"] = settings.sasl_username
        kwargs["sasl_plain_password"] = settings.sasl_password.get_secret_value() if settings.sasl_password else None
    return kwargs


IDLE_FETCH_WAIT_MS = 5000
"""How long the broker holds a fetch that finds nothing new: records that arrive meanwhile are returned at once,
so this costs no latency, only the idle asking (once per this, per consumer). A consumer with partitions paused
until due shortens it meanwhile (shared/stream/fetch_pace.py)."""


FETCHER_WAKE_MS = 2000
"""How often aiokafka's background fetch loop looks again with nothing to wake it (its `consumer_timeout_ms`,
200 ms by default). Everything that needs a new fetch wakes it at once (a fetch answered, records consumed, a
seek, a resumed partition, a lost assignment, a metadata refresh), so this is only its safety net; at 200 ms each
idle consumer woke five times a second to find its fetch still in flight, most of an idle notifier's CPU."""


def consumer_kwargs(service: str, settings: KafkaSettings | None = None) -> dict[str, Any]:
    """What every StreamConsumer's aiokafka client gets: the same servers and security as the producer, and a
    reconnect pace (1 s between tries) that keeps a down broker from being hammered."""
    settings = settings or KafkaSettings()
    return {
        "bootstrap_servers": settings.bootstrap_servers,
        "client_id": f"{settings.client_id_prefix}-{service}",
        "retry_backoff_ms": 1000,
        "fetch_max_wait_ms": IDLE_FETCH_WAIT_MS,
        "consumer_timeout_ms": FETCHER_WAKE_MS,
        **admin_client_kwargs(settings),
    }
