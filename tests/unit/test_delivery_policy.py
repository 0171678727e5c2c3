"""The delivery policy: which answers are retried and which are final; which tier next, Retry-After honoured,
dead letter after the last tier."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.delivery_policy import (
    MAX_RETRY_AFTER_SECONDS,
    AttemptResult,
    MarkDelivered,
    RetryInTier,
    SendToDeadLetters,
    breaker_may_skip,
    classify,
    decide,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
SCHEDULE = [5, 30, 120]


def failure(retry_after: float | None = None) -> AttemptResult:
    return AttemptResult("retryable", 503, "HTTP 503", retry_after)


def test_delivered_is_final() -> None:
    assert decide(AttemptResult("delivered", 200, None), 0, SCHEDULE, NOW) == MarkDelivered()


@pytest.mark.parametrize(("outcome", "reason"), [("gone", "endpoint_gone"), ("rejected", "rejected")])
def test_gone_and_rejected_are_not_retried(outcome: str, reason: str) -> None:
    assert decide(AttemptResult(outcome, 400, "x"), 0, SCHEDULE, NOW) == SendToDeadLetters(  # type: ignore[arg-type]
        reason, disable_endpoint=outcome == "gone"
    )


@pytest.mark.parametrize(("retries", "tier"), [(0, 5), (1, 30), (2, 120)])
def test_each_retry_uses_the_next_tier_with_bounded_jitter(retries: int, tier: int) -> None:
    decision = decide(failure(), retries, SCHEDULE, NOW, random.Random(1))
    assert isinstance(decision, RetryInTier)
    assert decision.tier_seconds == tier and decision.retries_so_far == retries + 1
    assert NOW + timedelta(seconds=tier) <= decision.not_before <= NOW + timedelta(seconds=tier * 1.2)


def test_after_the_last_tier_it_is_dead_lettered() -> None:
    assert decide(failure(), 3, SCHEDULE, NOW) == SendToDeadLetters("retries_exhausted")


@pytest.mark.parametrize(("retries", "may_skip"), [(0, True), (2, True), (3, False)])
def test_the_breaker_may_skip_any_try_but_the_last(retries: int, may_skip: bool) -> None:
    assert breaker_may_skip(retries, SCHEDULE) is may_skip


def test_retry_after_longer_than_the_tier_is_honoured_and_capped() -> None:
    decision = decide(failure(retry_after=90), 0, SCHEDULE, NOW, random.Random(1))
    assert isinstance(decision, RetryInTier) and decision.not_before == NOW + timedelta(seconds=90)
    capped = decide(failure(retry_after=10**6), 0, SCHEDULE, NOW, random.Random(1))
    assert isinstance(capped, RetryInTier)
    assert capped.not_before == NOW + timedelta(seconds=MAX_RETRY_AFTER_SECONDS)


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
