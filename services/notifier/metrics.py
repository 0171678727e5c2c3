from prometheus_client import Counter, Histogram

DELIVERY_ATTEMPTS = Counter(
    "notifier_delivery_attempts_total", "Webhook delivery attempts", ["recipient_kind", "outcome"]
)
DELIVERIES = Counter("notifier_deliveries_total", "Notifications delivered", ["recipient_kind"])
DEAD_LETTERS = Counter("notifier_dead_letters_total", "Notifications dead-lettered", ["recipient_kind", "reason"])
DUPLICATES_SKIPPED = Counter(
    "notifier_duplicates_skipped_total", "Notifications already delivered, not sent again", ["recipient_kind"]
)
ATTEMPT_LATENCY = Histogram("notifier_attempt_duration_seconds", "Webhook attempt duration", ["recipient_kind"])
