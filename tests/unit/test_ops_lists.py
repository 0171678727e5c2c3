"""The ops work lists, counts and chart series on a real (SQLite) schema: counted in full in SQL, filtered and
paged on the server, searched literally."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.ops.charts import activity, lag_series, latency_series, per_minute
from services.ops.queries import ListFilter, OpsQueries
from services.ops.urgency import Problems, banners
from shared.states import NotificationState
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.models import NotificationRecord, ReportRecord

HOUR = 3600.0
NOW = datetime.now(UTC)  # reset by _seed: the suite may run this long after import


def _report(report_id: str) -> ReportRecord:
    return ReportRecord(
        report_id=report_id,
        received_at=NOW - timedelta(minutes=5),
        accepted_at=NOW - timedelta(minutes=5),
        content_sha256="0" * 64,
        classification="dmst",
        policy_version="test",
        notification_count=1,
        first_routed_at=NOW - timedelta(minutes=5),
        routed_at=NOW - timedelta(minutes=5),
    )


def _notification(i: int, report_id: str, kind: str, agency: str, state: str, deadline_in: timedelta) -> Any:
    created = NOW - timedelta(minutes=4)
    delivered = created + timedelta(seconds=2) if state in ("delivered", "acknowledged") else None
    return NotificationRecord(
        notification_id=f"n{i:04d}",
        report_id=report_id,
        recipient_kind=kind,
        agency_id=agency,
        agency_name=f"{agency.upper()} Department",
        reason="test",
        state=state,
        created_at=created,
        deadline_at=NOW + deadline_in,
        delivered_at=delivered,
        acknowledged_at=created + timedelta(seconds=9) if state == "acknowledged" else None,
        last_error="HTTP 503" if state == "dead_lettered" else None,
    )


async def _seed(url: str) -> OpsQueries:
    """250 police clocks at risk (more than any list's cap), 3 missed, 2 far off; 2 dead letters; 5 acknowledged."""
    global NOW
    NOW = datetime.now(UTC)
    sessions = make_session_factory(make_engine(url))
    async with sessions() as session, session.begin():
        session.add_all([_report("CL-A_1"), _report("CL-B%2")])
        await session.flush()
        rows = [
            _notification(i, "CL-A_1", "police", f"pd-{i % 5}", "delivered", timedelta(hours=1)) for i in range(250)
        ]
        rows += [_notification(300 + i, "CL-B%2", "fbi", "fbi-nh", "retrying", timedelta(hours=-1)) for i in range(3)]
        rows += [
            _notification(400 + i, "CL-B%2", "hart", "hart-lead", "pending", timedelta(hours=10)) for i in range(2)
        ]
        rows += [
            _notification(500 + i, "CL-B%2", "mdt", "mdt-x", "dead_lettered", timedelta(hours=8)) for i in range(2)
        ]
        rows += [
            _notification(600 + i, "CL-A_1", "hart", "hart-lead", "acknowledged", timedelta(hours=1)) for i in range(5)
        ]
        session.add_all(rows)
    return OpsQueries(sessions)


def test_lists_count_in_full_filter_page_and_search_literally(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    upgrade(url)

    async def scenario() -> dict[str, Any]:
        q = await _seed(url)
        clocks = lambda match, **page: q.notifications("clocks", match, 4 * HOUR, **{"limit": 25, "offset": 0, **page})  # noqa: E731
        return {
            "counts": await q.clock_counts(4 * HOUR),
            "first": await clocks(ListFilter()),
            "last_page": await clocks(ListFilter(), offset=250),
            "missed": await clocks(ListFilter(due="missed")),
            "at_risk_pd1": await clocks(ListFilter(due="at_risk", agency_id="pd-1")),
            "later": await clocks(ListFilter(due="later")),
            "retrying": await clocks(ListFilter(state=NotificationState.RETRYING)),
            "kind": await clocks(ListFilter(kind="hart")),
            "search_id": await clocks(ListFilter(search="cl-b%2")),
            "search_wild": await clocks(ListFilter(search="%")),
            "search_name": await clocks(ListFilter(search="pd-3 dep")),
            "dead": await q.notifications("dead_letters", ListFilter(), 4 * HOUR, limit=25, offset=0),
            "dead_count": await q.dead_letter_count(),
            "kinds": await q.by_kind(),
            "agencies": await q.by_recipient("police"),
            "charts": await activity(q._sessions, 1, 10),
        }

    r = asyncio.run(scenario())
    assert r["counts"]["police"] == {"missed": 0, "at_risk": 250}  # all 250, not the first 200
    assert r["counts"]["fbi"] == {"missed": 3, "at_risk": 0} and r["counts"]["hart"] == {"missed": 0, "at_risk": 0}
    first = r["first"]
    assert first["total"] == 257 and len(first["items"]) == 25  # 250 + 3 + 2 + 2 dead letters, acknowledged not
    assert [i["recipient_kind"] for i in first["items"][:3]] == ["fbi"] * 3  # soonest (here: overdue) first
    assert first["items"][0]["seconds_left"] < 0 and first["items"][3]["at_risk"] is True
    assert r["last_page"]["total"] == 257 and len(r["last_page"]["items"]) == 7
    assert r["missed"]["total"] == 3
    assert r["at_risk_pd1"]["total"] == 50 and {i["agency_id"] for i in r["at_risk_pd1"]["items"]} == {"pd-1"}
    assert r["later"]["total"] == 4  # 2 pending hart + 2 dead-lettered mdt, deadlines beyond the window
    assert r["retrying"]["total"] == 3
    assert r["kind"]["total"] == 2
    assert r["search_id"]["total"] == 7  # case-insensitive, the '%' in the id taken literally
    assert r["search_wild"]["total"] == 7  # only ids that really contain '%'; not a wildcard for everything
    assert r["search_name"]["total"] == 50
    assert r["dead"]["total"] == 2 == r["dead_count"] and r["dead"]["items"][0]["reason"] == "HTTP 503"
    kinds = {k["recipient_kind"]: k for k in r["kinds"]}
    assert kinds["police"]["agencies"] == 5 and kinds["police"]["delivered"] == 250
    assert kinds["hart"]["acknowledged"] == 5 and kinds["hart"]["ack_p50_seconds"] == 9.0
    assert {a["agency_id"] for a in r["agencies"]} == {f"pd-{i}" for i in range(5)}
    charts = r["charts"]
    assert sum(charts["notifications"]) == 262 and sum(charts["reports"]) == 2
    assert charts["latency"]["kinds"]["hart"]["ack_p50"][-1] == 9.0  # the last 10-minute bucket holds them


def test_per_minute_and_latency_buckets() -> None:
    since = datetime(2026, 1, 1, tzinfo=UTC)
    at = [since + timedelta(seconds=s) for s in (0, 59, 60, 179, 180, -1)]
    assert per_minute(at, since, 3) == [2, 1, 1]
    rows = [("fbi", since, since + timedelta(seconds=4), None), ("fbi", since + timedelta(minutes=11), None, None)]
    series = latency_series(rows, since, 2, 600)
    assert series["fbi"]["deliver_p50"] == [4.0, None] and series["all"]["deliver_p95"] == [4.0, None]
    assert series["fbi"]["ack_p50"] == [None, None]
    assert lag_series([{"at": 1.0, "lag": {"a": 2}}, {"at": 2.0, "lag": {"b": 1}}]) == {
        "at": [1.0, 2.0],
        "groups": {"a": [2, None], "b": [None, 1]},
    }


def test_banners_most_urgent_first_and_none_when_all_is_well() -> None:
    calm = Problems(0, 0, 0, 0, 0, [], [], False)
    assert banners(calm, 4) == []
    busy = Problems(2, 5, 1, 1, 1, ["router"], ["notifier-fbi"], False)
    found = banners(busy, 4)
    assert [b["key"] for b in found] == ["missed", "at_risk", "dead_letters", "circuits", "services", "lag"]
    assert found[0]["count"] == 2 and found[0]["href"] == "/?due=missed#clocks"
    assert found[3]["title"] == "1 open circuit, 1 disabled endpoint" and found[3]["count"] == 2
    assert "router" in found[4]["title"] and found[5]["severity"] == "warning"
