"""Escalator service: schedules timers from routing decisions and fires the due ones."""

import asyncio
from datetime import UTC, datetime

from fastapi import FastAPI

from services.escalator.chain import check_chain_targets
from services.escalator.firing import TimerFirer
from services.escalator.scheduling import TimerScheduler
from services.escalator.settings import EscalatorSettings
from shared.consuming import consume
from shared.directory.directory import load_directory
from shared.directory.targets import UnknownTarget
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.policy.loader import PolicyInvalid, load_policy
from shared.production_checks import enforce_startup_checks
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.topics import ROUTING_DECISIONS

GROUP_ID = "escalator"


def create_app(settings: EscalatorSettings | None = None) -> FastAPI:
    settings = settings or EscalatorSettings()
    directory = load_directory()
    policy = load_policy(directory.towns, settings.policy_file)
    check_chain_targets(policy, directory, datetime.now(UTC).date())
    broker = make_broker("escalator")
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    firer = TimerFirer(broker, sessions, policy.version, directory)
    connected = asyncio.Event()

    async def on_ready() -> None:
        connected.set()

    connection = BrokerConnection(broker, on_ready=on_ready)
    scheduler = TimerScheduler(sessions, policy, settings.seconds_per_policy_minute, firer.nudge)
    consume(connection, [ROUTING_DECISIONS], GROUP_ID, scheduler)

    return broker_service_app(
        "Careline DMST escalator",
        connection,
        closing=[engine.dispose],
        background=lambda: firer.run(settings.poll_seconds, connected),
    )


def main() -> None:
    enforce_startup_checks("escalator", uses=("links", "envelope"))  # its notices are sealed like every notification
    configure_logging("escalator")
    settings = EscalatorSettings()
    try:
        app = create_app(settings)
    except (PolicyInvalid, UnknownTarget) as exc:
        raise SystemExit(str(exc)) from exc
    serve(app, settings.host, settings.port)
