"""The one definition of every notification state and attempt outcome. Stored in the database as their values."""

from enum import StrEnum


class NotificationState(StrEnum):
    """Where one notification stands. `delivered` and `acknowledged` never move backwards."""

    PENDING = "pending"  # routed, not attempted yet
    RETRYING = "retrying"  # an attempt failed; the next waits in a retry tier
    DELIVERED = "delivered"  # the agency's endpoint answered 2xx
    ACKNOWLEDGED = "acknowledged"  # the agency confirmed receipt (signed ack or one-click link)
    FAILED = "failed"  # the attempt was refused for good (4xx, 410, retries exhausted), dead letter pending
    DEAD_LETTERED = "dead_lettered"  # on the dead-letter topic, waiting for ops (fix and redrive)


DELIVERED_STATES = (NotificationState.DELIVERED, NotificationState.ACKNOWLEDGED)


class AttemptOutcome(StrEnum):
    """What one delivery attempt came to."""

    DELIVERED = "delivered"  # 2xx
    RETRYABLE = "retryable"  # 408, 429, 5xx, timeout, connection failure
    REJECTED = "rejected"  # any other 4xx, or a redirect (never followed)
    GONE = "gone"  # 410: the endpoint is disabled until ops re-enables it
    CIRCUIT_OPEN = "circuit_open"  # not attempted: the agency's circuit breaker is open
