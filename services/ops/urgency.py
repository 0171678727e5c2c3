"""What needs a human, most urgent first: one banner per kind of problem, with its count and the list that
explains it. An empty list means all is well."""

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Problems:
    deadlines_missed: int
    deadlines_at_risk: int
    dead_letters: int
    open_circuits: int
    disabled_endpoints: int
    services_down: list[str]
    lagging_groups: list[str]
    lag_unknown: bool


def _plural(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def banners(p: Problems, at_risk_hours: float) -> list[dict[str, Any]]:
    """Missed deadlines first (a child's deadline has passed), then what is about to miss one, then what
    stops notifications arriving, then what slows them. ``href`` opens the list, filtered to the problem."""
    found: list[dict[str, Any]] = []

    def add(key: str, count: int, title: str, href: str, severity: str = "critical") -> None:
        if count:
            found.append({"key": key, "count": count, "title": title, "href": href, "severity": severity})

    add(
        "missed",
        p.deadlines_missed,
        _plural(p.deadlines_missed, "deadline missed", "deadlines missed") + ", not acknowledged",
        "/?due=missed#clocks",
    )
    add(
        "at_risk",
        p.deadlines_at_risk,
        _plural(p.deadlines_at_risk, "deadline", "deadlines") + f" due within {at_risk_hours:g} h, not acknowledged",
        "/?due=at_risk#clocks",
    )
    add("dead_letters", p.dead_letters, _plural(p.dead_letters, "dead letter", "dead letters"), "#dead-letters")
    add(
        "circuits",
        p.open_circuits + p.disabled_endpoints,
        ", ".join(
            part
            for part in (
                _plural(p.open_circuits, "open circuit", "open circuits") if p.open_circuits else "",
                _plural(p.disabled_endpoints, "disabled endpoint", "disabled endpoints")
                if p.disabled_endpoints
                else "",
            )
            if part
        ),
        "#endpoints",
    )
    add(
        "services",
        len(p.services_down),
        _plural(len(p.services_down), "service", "services") + " down: " + ", ".join(p.services_down),
        "#health",
    )
    add(
        "lag",
        len(p.lagging_groups),
        _plural(len(p.lagging_groups), "consumer group", "consumer groups")
        + " lagging: "
        + ", ".join(p.lagging_groups),
        "#lag",
        "warning",
    )
    add("lag_unknown", int(p.lag_unknown), "consumer lag unknown (Kafka unreachable)", "#lag", "warning")
    return found
