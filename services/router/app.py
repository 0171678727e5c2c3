"""Router service: one consumer group on the report topic; a report counts as done once its rows are written and
every publish is acked (shared/stream)."""

from fastapi import FastAPI

from services.router.handler import KafkaPublisher, ReportRouter
from services.router.settings import LinkKeyMissing, RouterSettings, link_key
from shared.consuming import consume
from shared.directory.dated import DirectoryInvalid
from shared.directory.directory import load_directory
from shared.envelope import Keyring
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.policy.loader import PolicyInvalid, load_policy
from shared.production_checks import enforce_startup_checks
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.report_history import ReportHistory
from shared.store.repository import Store
from shared.topics import REPORTS

GROUP_ID = "router"


def create_app(settings: RouterSettings | None = None) -> FastAPI:
    """The policy and directory load first and whole: an invalid policy stops the router before it consumes."""
    settings = settings or RouterSettings()
    directory = load_directory()
    policy = load_policy(directory.towns, settings.policy_file)
    broker = make_broker("router")
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    key = link_key(settings)
    router = ReportRouter(KafkaPublisher(broker), Store(sessions), ReportHistory(sessions), directory, policy, key)
    router.keyring = Keyring.from_settings()
    connection = BrokerConnection(broker)
    consume(connection, [REPORTS], GROUP_ID, router)

    return broker_service_app("Careline DMST router", connection, closing=[engine.dispose])


def main() -> None:
    enforce_startup_checks("router", uses=("links", "envelope"))
    configure_logging("router")
    settings = RouterSettings()
    try:
        app = create_app(settings)
    except (PolicyInvalid, DirectoryInvalid, LinkKeyMissing) as exc:
        raise SystemExit(str(exc)) from exc
    serve(app, settings.host, settings.port)
