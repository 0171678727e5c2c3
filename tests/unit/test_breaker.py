"""The circuit breaker opens after repeated failures, lets one trial through after the cool-down."""

from services.notifier.breaker import CircuitBreakers


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_opens_after_threshold_and_isolates_agencies() -> None:
    clock = Clock()
    breakers = CircuitBreakers(threshold=3, cooldown_seconds=10, clock=clock)
    for _ in range(3):
        assert breakers.allows("down")
        breakers.record("down", success=False)
    assert not breakers.allows("down")
    assert breakers.allows("healthy")
    assert breakers.open_circuits() == ["down"]


def test_half_open_trial_after_cooldown_and_close_on_success() -> None:
    clock = Clock()
    breakers = CircuitBreakers(threshold=1, cooldown_seconds=10, clock=clock)
    breakers.record("a", success=False)
    assert not breakers.allows("a")
    clock.now = 10
    assert breakers.allows("a")  # the one trial
    assert not breakers.allows("a")  # others wait for its outcome / the next cool-down
    breakers.record("a", success=True)
    assert breakers.allows("a") and breakers.open_circuits() == []


def test_success_resets_the_failure_count() -> None:
    breakers = CircuitBreakers(threshold=2, cooldown_seconds=10, clock=Clock())
    breakers.record("a", success=False)
    breakers.record("a", success=True)
    breakers.record("a", success=False)
    assert breakers.allows("a")
