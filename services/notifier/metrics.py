from collections.abc import Callable, Iterator

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

DELIVERY_ATTEMPTS = Counter(
    "notifier_delivery_attempts_total", "Webhook delivery attempts", ["recipient_kind", "outcome"]
)
DELIVERIES = Counter("notifier_deliveries_total", "Notifications delivered", ["recipient_kind"])
DEAD_LETTERS = Counter("notifier_dead_letters_total", "Notifications dead-lettered", ["recipient_kind", "reason"])
DUPLICATES_SKIPPED = Counter(
    "notifier_duplicates_skipped_total", "Notifications already delivered, not sent again", ["recipient_kind"]
)
ATTEMPT_LATENCY = Histogram("notifier_attempt_duration_seconds", "Webhook attempt duration", ["recipient_kind"])


class _OpenCircuits(Collector):
    """notifier_circuit_open{recipient_kind, agency_id} = 1 for each open breaker, read at scrape time."""

    def __init__(self) -> None:
        self._sources: list[tuple[str, Callable[[], list[str]]]] = []

    def watch(self, kind: str, open_circuits: Callable[[], list[str]]) -> None:
        self._sources.append((kind, open_circuits))

    def collect(self) -> Iterator[GaugeMetricFamily]:
        gauge = GaugeMetricFamily(
            "notifier_circuit_open",
            "Circuit breaker open for an agency endpoint",
            labels=["recipient_kind", "agency_id"],
        )
        for kind, source in self._sources:
            for agency in source():
                gauge.add_metric([kind, agency], 1.0)
        yield gauge


OPEN_CIRCUITS = _OpenCircuits()
REGISTRY.register(OPEN_CIRCUITS)
