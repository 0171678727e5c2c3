"""A consumer loop that stops turning is reported, so the probe restarts the process instead of letting it sit
silently with its partitions unread (a stall once hid behind a healthy /healthz after a broker restart)."""

import time
from unittest.mock import MagicMock

from faststream.kafka import KafkaBroker

from shared.http import BrokerConnection
from shared.stream.engine import ConsumerOptions, StreamConsumer


async def _noop(_: object) -> None:
    return None


def consumer(stalled_after: float) -> StreamConsumer:
    return StreamConsumer("router", ["careline.reports.v1"], "router", _noop, {},
                          ConsumerOptions(stalled_after_seconds=stalled_after))  # fmt: skip


def test_a_loop_that_stopped_turning_is_overdue_and_health_names_it() -> None:
    stuck = consumer(stalled_after=60)
    stuck.started = True
    connection = BrokerConnection(MagicMock(spec=KafkaBroker), consumers=[stuck])
    connection.ready = True
    assert stuck.stalled_for() == 0.0 and connection.health() == (True, "ok")
    stuck._last_turn = time.monotonic() - 75  # the loop last turned 75 s ago
    assert 14 < stuck.stalled_for() < 16
    assert connection.health() == (False, "consumer stalled: router")


def test_a_consumer_not_started_or_stopping_is_never_stalled() -> None:
    idle = consumer(stalled_after=1)
    idle._last_turn = time.monotonic() - 100
    assert idle.stalled_for() == 0.0  # not started
    idle.started = True
    idle.stopping.set()
    assert idle.stalled_for() == 0.0
