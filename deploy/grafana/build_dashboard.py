"""Dashboard as code: writes deploy/grafana/dashboards/careline.json with the ops page's panels.

uv run python deploy/grafana/build_dashboard.py
"""

import json
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "dashboards" / "careline.json"
DS = {"type": "prometheus", "uid": "careline-prometheus"}


def quantile(q: float, histogram: str, window: str) -> str:
    return f"histogram_quantile({q}, sum by (le, recipient_kind) (rate({histogram}_bucket[{window}])))"


# (title, kind, [(expr, legend)], unit, width)
PANELS: list[tuple[str, str, list[tuple[str, str]], str, int]] = [
    ("Services up", "stat", [("up", "{{job}} {{instance}}")], "none", 12),
    (
        "Consumer lag by group",
        "timeseries",
        [("sum by (group) (ops_consumer_group_lag_messages)", "{{group}}")],
        "short",
        12,
    ),
    ("Notifications by state", "timeseries", [("sum by (state) (ops_notifications)", "{{state}}")], "short", 12),
    (
        "Reports routed per minute",
        "timeseries",
        [("sum by (outcome) (rate(router_reports_routed_total[5m])) * 60", "{{outcome}}")],
        "short",
        12,
    ),
    (
        "Delivery attempts per minute by kind and outcome",
        "timeseries",
        [
            (
                "sum by (recipient_kind, outcome) (rate(notifier_delivery_attempts_total[5m])) * 60",
                "{{recipient_kind}} {{outcome}}",
            )
        ],
        "short",
        12,
    ),
    (
        "Webhook attempt latency p50 / p95",
        "timeseries",
        [
            (
                quantile(0.5, "notifier_attempt_duration_seconds", "5m"),
                "p50 {{recipient_kind}}",
            ),
            (
                quantile(0.95, "notifier_attempt_duration_seconds", "5m"),
                "p95 {{recipient_kind}}",
            ),
        ],
        "s",
        12,
    ),
    (
        "Time to acknowledge p50 / p95",
        "timeseries",
        [
            (
                quantile(0.5, "acks_time_to_acknowledge_seconds", "30m"),
                "p50 {{recipient_kind}}",
            ),
            (
                quantile(0.95, "acks_time_to_acknowledge_seconds", "30m"),
                "p95 {{recipient_kind}}",
            ),
        ],
        "s",
        12,
    ),
    (
        "Intake requests per minute",
        "timeseries",
        [("sum by (outcome) (rate(intake_requests_total[5m])) * 60", "{{outcome}}")],
        "short",
        12,
    ),
    (
        "Needs a human: dead-lettered",
        "stat",
        [("sum by (recipient_kind) (ops_notifications_dead_lettered)", "{{recipient_kind}}")],
        "none",
        6,
    ),
    (
        "Needs a human: at risk",
        "stat",
        [("sum by (recipient_kind) (ops_notifications_at_risk)", "{{recipient_kind}}")],
        "none",
        6,
    ),
    (
        "Needs a human: past deadline",
        "stat",
        [("sum by (recipient_kind) (ops_notifications_past_deadline)", "{{recipient_kind}}")],
        "none",
        6,
    ),
    (
        "Open circuits / disabled endpoints",
        "stat",
        [
            ("sum(notifier_circuit_open) or vector(0)", "circuits open"),
            ("ops_endpoints_disabled", "endpoints disabled"),
        ],
        "none",
        6,
    ),
]


def panel(
    index: int, x: int, y: int, title: str, kind: str, targets: list[tuple[str, str]], unit: str, width: int
) -> dict[str, Any]:
    return {
        "id": index + 1,
        "type": kind,
        "title": title,
        "datasource": DS,
        "gridPos": {"x": x, "y": y, "w": width, "h": 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [
            {"refId": chr(ord("A") + i), "datasource": DS, "expr": expr, "legendFormat": legend}
            for i, (expr, legend) in enumerate(targets)
        ],
    }


def dashboard() -> dict[str, Any]:
    panels, x, y = [], 0, 0
    for index, (title, kind, targets, unit, width) in enumerate(PANELS):
        if x + width > 24:
            x, y = 0, y + 8
        panels.append(panel(index, x, y, title, kind, targets, unit, width))
        x += width
    return {
        "uid": "careline-pipeline",
        "title": "Careline DMST pipeline",
        "tags": ["careline"],
        "timezone": "utc",
        "schemaVersion": 39,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "panels": panels,
    }


def render() -> str:
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUT.write_text(render())
    print(f"wrote {OUT}")
