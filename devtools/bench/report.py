"""The benchmark's table: one row per figure, and a column for a previous run when one is given."""

from collections.abc import Callable
from typing import Any

Row = tuple[str, Callable[[dict[str, Any]], Any]]


def _get(*path: str) -> Callable[[dict[str, Any]], Any]:
    def read(results: dict[str, Any]) -> Any:
        value: Any = results
        for key in path:
            if not isinstance(value, dict) or key not in value:
                return None
            value = value[key]
        return value

    return read


ROWS: list[Row] = [
    ("B0 raw Kafka records/s (700 B, acks=all)", _get("B0", "records_per_second")),
    ("B1 intake alone reports/s", _get("B1", "reports_per_second")),
    ("B1 intake p99 ms", _get("B1", "latency_ms", "p99")),
    ("B1 intake CPU ms/report", _get("B1", "intake_cpu_ms_per_report")),
    ("B2 router alone notifications/s", _get("B2", "notifications_per_second")),
    ("B3 notifiers alone deliveries/s (20 ms receiver)", _get("B3", "deliveries_per_second")),
    ("B4 max held reports/s (p99 <= 1 s)", _get("B4", "max_held_reports_per_second")),
    ("B4 max held notifications/s", _get("B4", "max_held_notifications_per_second")),
    ("B4 produced records/s as % of B0", _get("B4", "b0_ratio_percent")),
    ("B4 CPU ms/notification, all processes", _get("B4", "cpu_ms_per_notification_total")),
    ("B6 1 report/s p50 ms (202 -> webhook)", _get("B6", "latency_ms", "p50")),
    ("B6 p99 ms", _get("B6", "latency_ms", "p99")),
    ("B6 max ms", _get("B6", "latency_ms", "max")),
    ("B5 broker SIGKILL: restart -> ready s", _get("B5", "restart_to_ready_seconds")),
    ("B5 ready -> every group's lag < 2 s, s", _get("B5", "lag_under_2s_after_ready_seconds")),
    ("B5 worst lag after ready s", _get("B5", "worst_lag_seconds_after_ready")),
    ("B5 p99 ms (202 -> webhook, across the kill)", _get("B5", "latency_ms", "p99")),
    ("B5 lost / duplicate rows", lambda r: _pair(_get("B5", "lost")(r), _get("B5", "duplicate_rows")(r))),
    ("idle CPU, all services, % of one core", _get("idle", "total_percent")),
    ("lost", _get("reconciliation", "lost")),
    ("duplicate rows", _get("reconciliation", "duplicate_rows")),
    ("duplicate receipts (same webhook-id)", _get("reconciliation", "duplicate_receipts")),
    ("notifications not acknowledged at end", _get("reconciliation", "notifications_not_acknowledged")),
]


def _pair(first: Any, second: Any) -> str | None:
    return None if first is None else f"{first} / {second}"


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) < 100 else f"{value:,.0f}"
    return str(value)


def _ratio(before: Any, after: Any) -> str:
    if isinstance(before, int | float) and isinstance(after, int | float) and before:
        return f"x{after / before:.2f}"
    return ""


def render(results: dict[str, Any], previous: dict[str, Any] | None = None) -> str:
    width = max(len(name) for name, _ in ROWS) + 2
    label = results.get("meta", {}).get("label", "this run")
    if previous is not None:
        head = f"{'figure':<{width}}{previous.get('meta', {}).get('label', 'before'):>14}{label:>14}{'ratio':>9}"
    else:
        head = f"{'figure':<{width}}{label:>14}"
    lines = [head, "-" * len(head)]
    for name, read in ROWS:
        now = read(results)
        if previous is not None:
            then = read(previous)
            lines.append(f"{name:<{width}}{_fmt(then):>14}{_fmt(now):>14}{_ratio(then, now):>9}")
        else:
            lines.append(f"{name:<{width}}{_fmt(now):>14}")
    lines += _per_process(results, previous)
    for step in results.get("B4", {}).get("steps", []):
        lat = step["latency_ms"]
        lines.append(
            f"  B4 step {step['offered_reports_per_second']:>5} reports/s: {step['notifications_per_second']:7.1f} "
            f"notifications/s, p50 {_fmt(lat['p50'])} p95 {_fmt(lat['p95'])} p99 {_fmt(lat['p99'])} "
            f"max {_fmt(lat['max'])} ms, 202s {step['accepted']}/{step['sent']}"
        )
    return "\n".join(lines)


def _per_process(results: dict[str, Any], previous: dict[str, Any] | None) -> list[str]:
    idle = results.get("idle", {}).get("percent_of_one_core", {})
    cpu = results.get("B4", {}).get("cpu_ms_per_notification", {})
    rss = results.get("rss_mib", {})
    names = sorted(set(idle) | set(cpu) | set(rss))
    if not names:
        return []
    lines = ["", f"{'process':<20}{'idle % core':>12}{'CPU ms/notif':>14}{'RSS MiB':>10}"]
    for name in names:
        lines.append(f"{name:<20}{_fmt(idle.get(name)):>12}{_fmt(cpu.get(name)):>14}{_fmt(rss.get(name)):>10}")
    if previous is not None:
        before = previous.get("idle", {}).get("percent_of_one_core", {})
        lines.append(f"(before: idle total {_fmt(sum(before.values()))} % of one core)")
    return lines
