"""Per-endpoint circuit breaker: after repeated failures, stop calling an endpoint for a while.

While open, notifications for that agency go straight to their next retry tier without an HTTP call,
so a dead agency costs the others nothing. After the cool-down one trial call is let through.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Circuit:
    failures: int = 0
    opened_at: float | None = None


class CircuitBreakers:
    def __init__(
        self, threshold: int = 5, cooldown_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._threshold = threshold
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._circuits: dict[str, _Circuit] = {}

    def allows(self, agency_id: str) -> bool:
        circuit = self._circuits.get(agency_id)
        if circuit is None or circuit.opened_at is None:
            return True
        if self._clock() - circuit.opened_at >= self._cooldown:
            circuit.opened_at = self._clock()  # half-open: one trial now, the next after another cool-down
            return True
        return False

    def record(self, agency_id: str, success: bool) -> None:
        circuit = self._circuits.setdefault(agency_id, _Circuit())
        if success:
            circuit.failures, circuit.opened_at = 0, None
            return
        circuit.failures += 1
        if circuit.failures >= self._threshold and circuit.opened_at is None:
            circuit.opened_at = self._clock()

    def open_circuits(self) -> list[str]:
        return sorted(a for a, c in self._circuits.items() if c.opened_at is not None)
