"""What happens after an attempt: delivered, dead-lettered, or scheduled on a retry tier. Pure functions."""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.notifier.webhook import AttemptResult

MAX_RETRY_AFTER_SECONDS = 3600.0


@dataclass(frozen=True)
class Deliver:
    """Delivered: record it and move on."""


@dataclass(frozen=True)
class DeadLetterIt:
    reason: str


@dataclass(frozen=True)
class RetryLater:
    tier_seconds: int
    not_before: datetime
    retries_so_far: int


Decision = Deliver | DeadLetterIt | RetryLater


def decide(
    result: AttemptResult,
    retries_so_far: int,
    schedule: list[int],
    now: datetime,
    rng: random.Random | None = None,
) -> Decision:
    """`retries_so_far` counts the retries already scheduled for this notification's current chain."""
    if result.outcome == "delivered":
        return Deliver()
    if result.outcome == "gone":
        return DeadLetterIt("endpoint_gone")
    if result.outcome == "rejected":
        return DeadLetterIt("rejected")
    if retries_so_far >= len(schedule):
        return DeadLetterIt("retries_exhausted")
    tier = schedule[retries_so_far]
    jitter = (rng or random).uniform(0.0, 0.2 * tier)  # spread a burst of failures over the tier
    delay = float(tier) + jitter
    if result.retry_after_seconds is not None:
        delay = max(delay, min(result.retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
    return RetryLater(tier, now + timedelta(seconds=delay), retries_so_far + 1)
