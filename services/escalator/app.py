"""Escalator service: schedules timers from routing decisions and fires the due ones."""

import asyncio

from fastapi import FastAPI

from services.escalator.firing import TimerFirer
from services.escalator.scheduling import TimerScheduler
from services.escalator.settings import EscalatorSettings
from shared.consuming import consume
from shared.directory.directory import load_directory
from shared.http import BrokerConnection, broker_service_app, serve
from shared.kafka import make_broker
from shared.logging import configure_logging
from shared.policy.loader import PolicyInvalid, load_policy
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.topics import ROUTING_DECISIONS

GROUP_ID = "escalator"


def create_app(settings: EscalatorSettings | None = None) -> FastAPI:
    settings = settings or EscalatorSettings()
    policy = load_policy(load_directory().towns, settings.policy_file)
    broker = make_broker("escalator")
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    firer = TimerFirer(broker, sessions, policy.version)
    connected = asyncio.Event()

    async def on_ready() -> None:
        connected.set()

    connection = BrokerConnection(broker, on_ready=on_ready)
    consume(connection, [ROUTING_DECISIONS], GROUP_ID, TimerScheduler(sessions, policy, settings.minute_seconds))

    return broker_service_app(
        "Careline DMST escalator",
        connection,
        closing=[engine.dispose],
        background=lambda: firer.run(settings.poll_seconds, connected),
    )


def main() -> None:
    configure_logging("escalator")
    settings = EscalatorSettings()
    try:
        app = create_app(settings)
    except PolicyInvalid as exc:
        raise SystemExit(str(exc)) from exc
    serve(app, settings.host, settings.port)
