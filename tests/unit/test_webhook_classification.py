"""Which answers are retried, which are final."""

import pytest

from services.notifier.webhook import classify


@pytest.mark.parametrize(
    ("status", "retry_after", "outcome", "delay"),
    [
        (200, None, "delivered", None),
        (204, None, "delivered", None),
        (410, None, "gone", None),
        (429, "10", "retryable", 10.0),
        (503, "7", "retryable", 7.0),
        (500, None, "retryable", None),
        (408, None, "retryable", None),
        (302, None, "rejected", None),
        (400, None, "rejected", None),
        (401, None, "rejected", None),
    ],
)
def test_classify(status: int, retry_after: str | None, outcome: str, delay: float | None) -> None:
    result = classify(status, retry_after)
    assert (result.outcome, result.retry_after_seconds) == (outcome, delay)
