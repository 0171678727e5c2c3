"""While a broker is down, aiokafka logs every failed connection attempt (100,000 lines in three minutes from
one process). This filter lets the first of a kind through, then one line per interval with a count, and it
remembers when Kafka was last unreachable, so health endpoints can say so."""

import logging
import time

CONNECTION_TROUBLE = (
    "Unable connect to",
    "Unable to request metadata",
    "Unable to update metadata",
    "Got error produce response",
    "Connection at",
    "Failed fetch messages",
    "Coordinator Request failed",
)
BROKER_ANSWERED = (
    "GroupCoordinatorNotAvailableError",
    "NotCoordinatorForGroupError",
    "GroupLoadInProgressError",
)
"""Coordinator answers that mean the broker is up and the group's coordinator is not ready yet: on a new cluster
the first group lookup creates the offsets topic and gets GroupCoordinatorNotAvailable. Held back like any
repeated line, but not "unreachable": that made every first service on a fresh broker report it for 10 s."""


class KafkaConnectionLogs(logging.Filter):
    def __init__(self, interval_seconds: float = 30.0) -> None:
        super().__init__()
        self.interval = interval_seconds
        self.last_trouble_at: float | None = None
        self._window_started: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        kind = next((k for k in CONNECTION_TROUBLE if k in message), None)
        if kind is None:
            return True
        now = time.monotonic()
        if not any(answer in message for answer in BROKER_ANSWERED):
            self.last_trouble_at = now
        started = self._window_started.get(kind)
        if started is None or now - started >= self.interval:
            count = self._suppressed.pop(kind, 0)
            self._window_started[kind] = now
            if count:
                record.msg = f"{message} (and {count} more like it in the last {now - started:.0f} s)"  # type: ignore[operator]
                record.args = ()
            return True
        self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
        return False

    def unreachable_for(self, within_seconds: float = 10.0) -> bool:
        """True when aiokafka reported connection trouble in the last `within_seconds`."""
        return self.last_trouble_at is not None and time.monotonic() - self.last_trouble_at < within_seconds


_installed: KafkaConnectionLogs | None = None


def quiet_kafka_connection_logs() -> KafkaConnectionLogs:
    """Install the filter once per process on aiokafka's loggers (handlers of the root logger see the result)."""
    global _installed
    if _installed is None:
        _installed = KafkaConnectionLogs()
        for name in ("aiokafka", "aiokafka.conn", "aiokafka.client", "aiokafka.cluster", "aiokafka.consumer.fetcher",
                     "aiokafka.consumer.consumer", "aiokafka.consumer.group_coordinator", "aiokafka.producer.sender",
                     "aiokafka.producer.producer", "aiokafka.admin.client"):  # fmt: skip
            logging.getLogger(name).addFilter(_installed)
    return _installed
