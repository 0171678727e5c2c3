from prometheus_client import Counter, Histogram

ACKS = Counter("acks_requests_total", "Acknowledgement requests by outcome", ["outcome"])
TIME_TO_ACK = Histogram(
    "acks_time_to_acknowledge_seconds",
    "From notification created to acknowledged",
    ["recipient_kind"],
    buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 12 * 3600, 24 * 3600),
)
