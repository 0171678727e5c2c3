"""The dashboard's live state in one JSON document (the page polls it), and the ops gauges, refreshed on their
own schedule so that alerts do not depend on anyone viewing the page."""

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from services.ops.breakers import open_breakers
from services.ops.health import service_health
from services.ops.lag import LagTracker
from services.ops.metrics import AT_RISK, DEAD_LETTERED, DISABLED_ENDPOINTS, NOTIFICATIONS, PAST_DEADLINE
from services.ops.pacing import Pace
from services.ops.queries import STATES, OpsQueries
from services.ops.urgency import Problems, banners
from shared.states import NotificationState

log = structlog.get_logger(__name__)


def update_gauges(kinds: list[dict[str, Any]], clocks: dict[str, dict[str, int]]) -> None:
    """``kinds``: counts by state per recipient kind; ``clocks``: missed and at-risk counts per kind (SQL)."""
    for row in kinds:
        kind = row["recipient_kind"]
        for state in STATES:
            NOTIFICATIONS.labels(kind, state).set(row[state])
        DEAD_LETTERED.labels(kind).set(row[NotificationState.DEAD_LETTERED])
    for kind in {row["recipient_kind"] for row in kinds} | set(clocks):
        counted = clocks.get(kind, {})
        AT_RISK.labels(kind).set(counted.get("at_risk", 0))
        PAST_DEADLINE.labels(kind).set(counted.get("missed", 0))


async def refresh_gauges(queries: OpsQueries, at_risk_seconds: float) -> None:
    update_gauges(await queries.by_kind(), await queries.clock_counts(at_risk_seconds))
    DISABLED_ENDPOINTS.set(len(await queries.disabled_endpoints()))


async def keep_gauges_fresh(queries: OpsQueries, at_risk_seconds: float, pace: Pace) -> None:
    """Prometheus scrapes ops, not the page: the alert gauges (at risk, past deadline, dead letters) must stay
    current while nobody has the dashboard open. A database outage keeps the last values and tries again."""
    while True:
        try:
            await refresh_gauges(queries, at_risk_seconds)
        except Exception as exc:
            log.warning("ops_gauges_refresh_failed", error_type=type(exc).__name__)
        await pace.sleep()


def group_lag(lag: dict[str, Any]) -> dict[str, int]:
    totals: dict[str, int] = {}
    for row in lag["partitions"]:
        totals[row["group"]] = totals.get(row["group"], 0) + row["lag"]
    return dict(sorted(totals.items()))


async def build_snapshot(
    queries: OpsQueries,
    client: httpx.AsyncClient,
    services: dict[str, str],
    lag: LagTracker,
    at_risk_seconds: float,
    lag_alert_messages: int,
) -> dict[str, Any]:
    health = await service_health(client, services)
    lag_now = lag.snapshot()
    groups = group_lag(lag_now)
    clocks = await queries.clock_counts(at_risk_seconds)
    breakers = await open_breakers(client, services)
    disabled = await queries.disabled_endpoints()
    problems = Problems(
        deadlines_missed=sum(c["missed"] for c in clocks.values()),
        deadlines_at_risk=sum(c["at_risk"] for c in clocks.values()),
        dead_letters=await queries.dead_letter_count(),
        open_circuits=len(breakers),
        disabled_endpoints=len(disabled),
        services_down=[name for name, state in health.items() if state != "up"],
        lagging_groups=[g for g, n in groups.items() if n >= lag_alert_messages],
        lag_unknown=lag_now["error"] is not None,
    )
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "urgent": banners(problems, at_risk_seconds / 3600),
        "problems": asdict(problems),
        "health": health,
        "lag": {
            "error": lag_now["error"],
            "groups": groups,
            "alert_at": lag_alert_messages,
            "partitions": lag_now["partitions"],
        },
        "reports": await queries.report_counts(),
        "kinds": await queries.by_kind(),
        "open_breakers": breakers,
        "disabled_endpoints": disabled,
    }
