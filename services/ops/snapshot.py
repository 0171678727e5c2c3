"""The whole dashboard state in one JSON document (the page polls it), and the ops gauges, refreshed on their
own schedule so that alerts do not depend on anyone viewing the page."""

import asyncio
from datetime import UTC, datetime
from typing import Any

import httpx
import structlog

from services.ops.breakers import open_breakers
from services.ops.health import service_health
from services.ops.lag import LagTracker
from services.ops.metrics import AT_RISK, DEAD_LETTERED, DISABLED_ENDPOINTS, NOTIFICATIONS, PAST_DEADLINE
from services.ops.queries import STATES, OpsQueries

log = structlog.get_logger(__name__)


def update_gauges(recipients: list[dict[str, Any]], open_items: list[dict[str, Any]], at_risk_seconds: float) -> None:
    by_kind: dict[str, dict[str, int]] = {}
    for row in recipients:
        counts = by_kind.setdefault(row["recipient_kind"], dict.fromkeys(STATES, 0))
        for state in STATES:
            counts[state] += row[state]
    for kind, counts in by_kind.items():
        for state, n in counts.items():
            NOTIFICATIONS.labels(kind, state).set(n)
        DEAD_LETTERED.labels(kind).set(counts["dead_lettered"])
        AT_RISK.labels(kind).set(
            sum(1 for i in open_items if i["recipient_kind"] == kind and 0 <= i["seconds_left"] <= at_risk_seconds)
        )
        missed = sum(1 for i in open_items if i["recipient_kind"] == kind and i["seconds_left"] < 0)
        PAST_DEADLINE.labels(kind).set(missed)


async def refresh_gauges(queries: OpsQueries, at_risk_seconds: float) -> None:
    update_gauges(await queries.by_recipient(), await queries.open_notifications(), at_risk_seconds)
    DISABLED_ENDPOINTS.set(len(await queries.disabled_endpoints()))


async def keep_gauges_fresh(queries: OpsQueries, at_risk_seconds: float, every_seconds: float) -> None:
    """Prometheus scrapes ops, not the page: the alert gauges (at risk, past deadline, dead letters) must stay
    current while nobody has the dashboard open. A database outage keeps the last values and tries again."""
    while True:
        try:
            await refresh_gauges(queries, at_risk_seconds)
        except Exception as exc:
            log.warning("ops_gauges_refresh_failed", error_type=type(exc).__name__)
        await asyncio.sleep(every_seconds)


async def build_snapshot(
    queries: OpsQueries,
    client: httpx.AsyncClient,
    services: dict[str, str],
    lag: LagTracker,
    at_risk_seconds: float,
) -> dict[str, Any]:
    recipients = await queries.by_recipient()
    open_items = await queries.open_notifications()
    disabled = await queries.disabled_endpoints()
    return {
        "generated_at": datetime.now(UTC).isoformat(),
        "health": await service_health(client, services),
        "lag": lag.snapshot(),
        "reports": await queries.report_counts(),
        "recipients": recipients,
        "needs_a_human": {
            "clocks": [
                {**i, "at_risk": i["seconds_left"] <= at_risk_seconds} for i in open_items if i["seconds_left"] >= 0
            ][:50],
            "missed": [i for i in open_items if i["seconds_left"] < 0][:50],
            "open_breakers": await open_breakers(client, services),
            "disabled_endpoints": disabled,
            "dead_letters": await queries.dead_lettered(),
        },
    }
