from prometheus_client import Counter

REPORTS_ROUTED = Counter("router_reports_routed_total", "Reports routed", ["outcome"])
NOTIFICATIONS_PUBLISHED = Counter(
    "router_notifications_published_total", "Notifications published", ["recipient_kind", "fallback"]
)
