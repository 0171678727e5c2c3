"""Notifier service for one recipient kind: its own topic, its own consumer group."""

import httpx
from fastapi import FastAPI

from services.notifier.handler import NotificationDeliverer
from services.notifier.metrics import OPEN_CIRCUITS
from services.notifier.settings import NotifierSettings
from shared.consuming import subscribe_reliably
from shared.directory.endpoints import EndpointRegistry
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store
from shared.topics import NOTIFICATION_TOPICS, retry_topic


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    broker = make_broker(f"notifier-{settings.kind.value}")
    engine = make_engine(DatabaseSettings().database_url)
    store = Store(make_session_factory(engine))
    client = httpx.AsyncClient(
        follow_redirects=False,
        timeout=httpx.Timeout(settings.request_timeout_seconds, connect=settings.connect_timeout_seconds),
        limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
    )
    connection = BrokerConnection(broker)
    deliverer = NotificationDeliverer(broker, store, EndpointRegistry(), client, settings, connection.stopping)
    group = f"notifier-{settings.kind.value}"
    subscribe_reliably(broker, NOTIFICATION_TOPICS[settings.kind], group, deliverer)
    for delay in sorted(set(settings.schedule())):
        # A tier's consumer may sleep up to its delay before the attempt: poll interval allows for it.
        subscribe_reliably(
            broker,
            retry_topic(settings.kind, delay),
            f"{group}-retry-{delay}s",
            deliverer,
            max_poll_interval_ms=(delay + 300) * 1000,
        )

    app = broker_service_app(
        f"Careline DMST notifier ({settings.kind.value})", connection, closing=[client.aclose, engine.dispose]
    )
    OPEN_CIRCUITS.watch(settings.kind.value, deliverer.breakers.open_circuits)

    @app.get("/breakers", include_in_schema=False)
    async def breakers() -> dict[str, list[str]]:
        """Agencies whose circuit is open now (the ops page lists them)."""
        return {"open": deliverer.breakers.open_circuits()}

    return app


def main() -> None:
    settings = NotifierSettings()
    configure_logging(f"notifier-{settings.kind.value}")
    serve(create_app(settings), settings.host, settings.port)
