"""What happens when an agency's endpoint does not take a notification: the whole story in one place.

1. Classify the answer (`classify`): 2xx delivered; 410 gone (the endpoint is disabled until ops re-enables it,
   `python -m services.notifier.redrive enable-endpoint`); 408, 429, 5xx, a timeout or a refused connection are
   retryable (a `Retry-After` is honoured, up to an hour); a redirect (never followed) or any other 4xx is rejected.
   An open circuit breaker (`breaker.py`: after 5 failures in a row the agency is not called for 30 s) counts as
   retryable without an HTTP call, so a dead agency costs the others nothing. The breaker may skip any try but a
   notification's last (`breaker_may_skip`): only a real call that failed ends in `retries_exhausted`.
2. Decide (`decide`): delivered -> record it; gone or rejected -> dead letter at once; retryable -> the next delay
   of the recipient kind's schedule (`SCHEDULES`, override with NOTIFIER_RETRY_SCHEDULE), with up to 20 % jitter so
   a burst of failures does not come back in step; past the last delay -> dead letter (`retries_exhausted`).
3. Each delay is a retry tier, a topic of its own (`shared.topics.retry_topic`: notifications.<kind>.retry-<N>s.v1).
   The retry waits there, not in memory: the notifier's consumer pauses the tier's partition until its head is due.
4. A dead letter goes to notifications.deadletter.v1 with the reason; ops redrive it once the agency is fixed
   (`shared/redrive.py`). Nothing unacknowledged is forgotten meanwhile: the escalator's clocks run on
   (services/escalator), whatever the notifier is doing.
Pure functions; the handler (`handler.py`) applies them.
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.states import AttemptOutcome, NotificationState

MAX_RETRY_AFTER_SECONDS = 3600.0

# Per recipient kind, the delays (seconds, each a provisioned retry tier) before each retry.
SCHEDULES: dict[str, list[int]] = {
    "hart": [5, 30, 120, 600, 1800],
    "fbi": [5, 30, 120, 600, 1800],
    "police": [5, 30, 120, 600, 1800],
    "mdt": [30, 120, 600, 1800],
    "ncmec": [5, 30, 120, 600, 1800],
    "hhs": [30, 120, 600, 1800],
}


@dataclass(frozen=True)
class AttemptResult:
    outcome: AttemptOutcome
    status_code: int | None
    error: str | None
    retry_after_seconds: float | None = None


def classify(status: int, retry_after: str | None) -> AttemptResult:
    if 200 <= status < 300:
        return AttemptResult(AttemptOutcome.DELIVERED, status, None)
    if status == 410:
        return AttemptResult(AttemptOutcome.GONE, status, "endpoint answered 410 Gone")
    if status in (408, 429) or status >= 500:
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        return AttemptResult(AttemptOutcome.RETRYABLE, status, f"HTTP {status}", delay)
    if 300 <= status < 400:
        return AttemptResult(AttemptOutcome.REJECTED, status, f"HTTP {status}: redirects are not followed")
    return AttemptResult(AttemptOutcome.REJECTED, status, f"HTTP {status}")


CIRCUIT_OPEN = AttemptResult(AttemptOutcome.CIRCUIT_OPEN, None, "circuit breaker open: endpoint failing")


def breaker_may_skip(retries_so_far: int, schedule: list[int], redriven: bool = False) -> bool:
    """An open breaker may skip any try but the last, and never a redrive. Skipping the last would dead-letter a
    notification whose agency was never called on it (a half-open breaker refuses everything beside its one trial
    call); a redrive is ops saying the agency is back, and several redriven at once would race that trial call."""
    return retries_so_far < len(schedule) and not redriven


@dataclass(frozen=True)
class MarkDelivered:
    """Delivered: record it and move on."""

    state: NotificationState = NotificationState.DELIVERED


@dataclass(frozen=True)
class SendToDeadLetters:
    reason: str
    disable_endpoint: bool = False
    state: NotificationState = NotificationState.FAILED


@dataclass(frozen=True)
class RetryInTier:
    tier_seconds: int
    not_before: datetime
    retries_so_far: int
    state: NotificationState = NotificationState.RETRYING


NextStep = MarkDelivered | SendToDeadLetters | RetryInTier


def decide(
    result: AttemptResult,
    retries_so_far: int,
    schedule: list[int],
    now: datetime,
    rng: random.Random | None = None,
) -> NextStep:
    """`retries_so_far` counts the retries already scheduled for this notification's current chain."""
    if result.outcome == AttemptOutcome.DELIVERED:
        return MarkDelivered()
    if result.outcome == AttemptOutcome.GONE:
        return SendToDeadLetters("endpoint_gone", disable_endpoint=True)
    if result.outcome == AttemptOutcome.REJECTED:
        return SendToDeadLetters("rejected")
    if retries_so_far >= len(schedule):
        return SendToDeadLetters("retries_exhausted")
    tier = schedule[retries_so_far]
    jitter = (rng or random).uniform(0.0, 0.2 * tier)
    delay = float(tier) + jitter
    if result.retry_after_seconds is not None:
        delay = max(delay, min(result.retry_after_seconds, MAX_RETRY_AFTER_SECONDS))
    return RetryInTier(tier, now + timedelta(seconds=delay), retries_so_far + 1)
