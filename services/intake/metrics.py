from prometheus_client import Counter, Histogram

INTAKE_REQUESTS = Counter("intake_requests_total", "Report submissions by channel and outcome", ["channel", "outcome"])
INTAKE_LATENCY = Histogram("intake_request_duration_seconds", "Time from request to Kafka acknowledgement", ["channel"])
