"""What ops exports for Prometheus: lag read from Kafka, and the pipeline's needs-a-human numbers.

Gauges, refreshed by the ops service's background sampler; labels are groups, topics, partitions, kinds
and states (all bounded), never report or notification ids.
"""

from prometheus_client import Gauge

CONSUMER_LAG = Gauge(
    "ops_consumer_group_lag_messages",
    "Messages between a consumer group's committed offset and the partition's log end",
    ["group", "topic", "partition"],
)
NOTIFICATIONS = Gauge("ops_notifications", "Notifications by recipient kind and state", ["recipient_kind", "state"])
AT_RISK = Gauge(
    "ops_notifications_at_risk",
    "Unacknowledged notifications whose deadline is near (within OPS_AT_RISK_SECONDS)",
    ["recipient_kind"],
)
PAST_DEADLINE = Gauge(
    "ops_notifications_past_deadline", "Unacknowledged notifications whose deadline has passed", ["recipient_kind"]
)
DEAD_LETTERED = Gauge("ops_notifications_dead_lettered", "Notifications dead-lettered now", ["recipient_kind"])
DISABLED_ENDPOINTS = Gauge("ops_endpoints_disabled", "Agency endpoints disabled (after 410 Gone)")
