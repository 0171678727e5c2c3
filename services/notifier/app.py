"""Notifier service: for each recipient kind it serves, one consumer (group notifier-<kind>) reads the kind's topic
and all its retry tiers; deliveries run concurrently across agencies and in order within one."""

from fastapi import FastAPI

from services.notifier.handler import NotificationDeliverer
from services.notifier.metrics import OPEN_CIRCUITS
from services.notifier.settings import NotifierSettings
from shared.consuming import reliably
from shared.directory.endpoints import EndpointRegistry
from shared.egress import make_egress_client
from shared.events import RecipientKind
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import consumer_kwargs, make_broker
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store
from shared.stream.engine import StreamConsumer
from shared.telemetry import traced
from shared.topics import DEAD_LETTERS, NOTIFICATION_TOPICS, RETRY_TIERS_SECONDS, retry_topic


def group_id(kind: RecipientKind) -> str:
    return f"notifier-{kind.value}"


def topics_of(kind: RecipientKind) -> list[str]:
    """The main topic and every tier (not only the schedule's): a retry parked under an older schedule still comes."""
    return [NOTIFICATION_TOPICS[kind], *(retry_topic(kind, delay) for delay in RETRY_TIERS_SECONDS)]


def create_app(settings: NotifierSettings | None = None) -> FastAPI:
    settings = settings or NotifierSettings()
    name = service_name(settings)
    broker = make_broker(name)
    engine = make_engine(DatabaseSettings().database_url)
    store = Store(make_session_factory(engine))
    client = make_egress_client(  # resolves, refuses internal addresses, connects to the address it checked
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.request_timeout_seconds,
        max_connections=settings.max_connections,
    )
    connection = BrokerConnection(broker)
    deliverer = NotificationDeliverer(broker, store, EndpointRegistry(), client, settings)
    handle = reliably(deliverer, broker, DEAD_LETTERS, connection.stopping)  # poison; undeliverable: handler.py
    kafka = consumer_kwargs(name)  # retry tiers wait, paused, until due (shared/stream/fetch_pace.py)
    for kind in settings.kinds:
        group = group_id(kind)
        connection.add_consumer(StreamConsumer(group, topics_of(kind), group, traced(handle, group), kafka))

    app = broker_service_app(f"Careline DMST notifier ({', '.join(settings.kinds)})", connection,
                             closing=[client.aclose, engine.dispose])  # fmt: skip
    for kind in settings.kinds:
        OPEN_CIRCUITS.watch(kind.value, deliverer.breakers.open_circuits)

    @app.get("/breakers", include_in_schema=False)
    async def breakers() -> dict[str, list[str]]:
        """Agencies whose circuit is open now (the ops page lists them)."""
        return {"open": deliverer.breakers.open_circuits()}

    return app


def service_name(settings: NotifierSettings) -> str:
    if set(settings.kinds) == set(RecipientKind):
        return "notifier"
    return "notifier-" + "-".join(k.value for k in settings.kinds)


def main() -> None:
    settings = NotifierSettings()
    enforce_startup_checks(service_name(settings), uses=("agencies", "envelope"))  # opens sealed notifications
    configure_logging(service_name(settings))
    serve(create_app(settings), settings.host, settings.port)
