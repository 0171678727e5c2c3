"""While a broker is down, aiokafka's connection errors reach the log once per interval with a count, and the
service knows Kafka is unreachable (its /healthz says so)."""

import logging

import pytest

from shared.stream.quiet import KafkaConnectionLogs


def test_repeated_connection_errors_are_counted_not_repeated(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("aiokafka.test-quiet")
    quiet = KafkaConnectionLogs(interval_seconds=3600)
    logger.addFilter(quiet)
    with caplog.at_level(logging.ERROR, logger="aiokafka.test-quiet"):
        for _ in range(1000):
            logger.error("Unable connect to node with id %s: %s", 1, "Connect call failed")
        logger.error("something else entirely")
    lines = [r.getMessage() for r in caplog.records]
    assert lines == ["Unable connect to node with id 1: Connect call failed", "something else entirely"]
    assert quiet.unreachable_for(10.0)


def test_after_the_interval_one_line_says_how_many_were_held_back(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("aiokafka.test-quiet-2")
    quiet = KafkaConnectionLogs(interval_seconds=0.0)
    logger.addFilter(quiet)
    quiet.interval = 3600
    with caplog.at_level(logging.ERROR, logger="aiokafka.test-quiet-2"):
        for _ in range(5):
            logger.error("Unable connect to node with id 1")
        quiet.interval = 0.0
        logger.error("Unable connect to node with id 1")
    assert len(caplog.records) == 2
    assert "and 4 more like it" in caplog.records[-1].getMessage()


def test_no_trouble_means_reachable() -> None:
    assert not KafkaConnectionLogs().unreachable_for(10.0)


def test_a_coordinator_not_ready_yet_is_not_an_unreachable_broker(caplog: pytest.LogCaptureFixture) -> None:
    """A new cluster's first group lookup answers GroupCoordinatorNotAvailable while it creates the offsets topic:
    the broker answered, so health must not say 'kafka unreachable' (intake said so for its first 10 s)."""
    logger = logging.getLogger("aiokafka.test-quiet-3")
    quiet = KafkaConnectionLogs(interval_seconds=3600)
    logger.addFilter(quiet)
    with caplog.at_level(logging.ERROR, logger="aiokafka.test-quiet-3"):
        for error in ("[Error 15] GroupCoordinatorNotAvailableError", "[Error 14] GroupLoadInProgressError"):
            logger.error("Group Coordinator Request failed: %s", error)
    assert not quiet.unreachable_for(10.0)
    assert len(caplog.records) == 1  # still held back like any repeated line
    logger.error("Group Coordinator Request failed: %s", "[Error 7] RequestTimedOutError")
    assert quiet.unreachable_for(10.0)
