"""Reports routed at the same moment share their transactions (group commit) and end exactly as the same reports
routed one at a time, on PostgreSQL and SQLite: the same rows in every table, the same notifications published,
in a fraction of the statements; and one routing the database refuses fails alone, not its batch-mates."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import MetaData, event, select

from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.samples import sample_report
from services.router.handler import ReportRouter
from shared.events import CarelineReport, ReportReceived
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.report_history import ReportHistory
from shared.store.repository import RoutingRows, Store
from tests.fakes import RecordingPublisher
from tests.unit.routing_support import DIRECTORY, POLICY

KEY = b"integration-link-key-0123456789abcdef"
T0 = datetime(2026, 12, 3, 9, 0, tzinfo=UTC)
TOWNS = ["Hartford", "New Haven", "Bridgeport", "Waterbury", "Norwich", "Danbury", "Torrington", "Enfield"]
# Written by routing; their columns that hold a time of day (when it ran) are left out of the comparison.
TABLES = ["reports", "notifications", "report_versions", "report_holders", "report_match_keys", "link_notices"]
RUN_TIMES = {"first_routed_at", "routed_at", "created_at", "deadline_at"}


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _url(kind: str, request: pytest.FixtureRequest, tmp_path: Path, name: str) -> str:
    if kind == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"
    else:
        handle: PostgresHandle = request.getfixturevalue("postgres")
        url = handle.create_database(f"{name}_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    return url


def _reports() -> list[dict[str, Any]]:
    reports = [sample_report(f"CL-BATCH-{i}", town) for i, town in enumerate(TOWNS)]
    reports[1]["child"] = dict(reports[0]["child"])  # the same child twice: the two reports are linked
    for i, report in enumerate(reports):
        report["received_at"] = (T0 + timedelta(seconds=i)).isoformat()
    return reports


async def _route(url: str, together: bool) -> tuple[dict[str, list[tuple[Any, ...]]], list[str], dict[str, int]]:
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    publisher = RecordingPublisher()
    router = ReportRouter(publisher, Store(sessions), ReportHistory(sessions), DIRECTORY, POLICY, KEY)
    events = [ReportReceived.of(CarelineReport.model_validate(r), T0) for r in _reports()]
    statements = {"INSERT INTO reports ": 0, "INSERT INTO notifications ": 0, "UPDATE reports SET routed_at": 0}

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        for start in statements:
            statements[start] += statement.startswith(start)

    event.listen(engine.sync_engine, "before_cursor_execute", count)
    await router.route(events[0])  # the linked report's earlier half is routed first either way
    if together:
        await asyncio.gather(*(router.route(e) for e in events[1:]))
    else:
        for e in events[1:]:
            await router.route(e)
    event.remove(engine.sync_engine, "before_cursor_execute", count)
    tables: dict[str, list[tuple[Any, ...]]] = {}
    metadata = MetaData()
    async with engine.connect() as conn:
        await conn.run_sync(lambda sync: metadata.reflect(sync, only=TABLES))
        for name in TABLES:
            table = metadata.tables[name]
            columns = [c for c in table.c if c.name not in RUN_TIMES]
            tables[name] = sorted(tuple(row) for row in (await conn.execute(select(*columns))).all())
    await engine.dispose()
    published = sorted(n.notification_id for n in publisher.take())
    return tables, published, statements


def test_reports_routed_together_end_as_the_same_reports_routed_one_at_a_time(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    alone_url = _url(database, request, tmp_path, "alone")
    together_url = _url(database, request, tmp_path, "together")
    alone_tables, alone_published, alone_statements = asyncio.run(_route(alone_url, together=False))
    together_tables, together_published, together_statements = asyncio.run(_route(together_url, together=True))
    print(f"\nstatements one at a time {alone_statements}, together {together_statements}")
    assert together_tables == alone_tables
    assert together_published == alone_published
    assert len(alone_tables["reports"]) == len(TOWNS) and all(r[-1] is not None for r in alone_tables["reports"])
    assert alone_tables["link_notices"], "the two reports about one child are linked"
    assert all(count == len(TOWNS) for count in alone_statements.values())
    # The first report alone, then the other seven in a handful of shared statements.
    assert all(count <= 3 for count in together_statements.values()), together_statements


async def _failing_alone(url: str) -> tuple[list[BaseException | None], list[str]]:
    engine = make_engine(url)
    store = Store(make_session_factory(engine))

    def rows(report_id: str, notification_report: str) -> RoutingRows:
        report = {"report_id": report_id, "received_at": T0, "accepted_at": T0, "content_sha256": "0" * 64,
                  "classification": "dmst", "policy_version": "v", "notification_count": 1,
                  "first_routed_at": T0, "duplicates_received": 0}  # fmt: skip
        notification = {"notification_id": f"ntf_{report_id}", "report_id": notification_report,
                        "recipient_kind": "police", "agency_id": "pd-hartford", "agency_name": "Hartford PD",
                        "reason": "unit", "fallback": False, "state": "pending", "created_at": T0,
                        "deadline_at": T0 + timedelta(hours=12), "attempts": 0}  # fmt: skip
        version = {"report_id": report_id, "report_version": 1, "content_sha256": "0" * 64, "field_digests": "{}",
                   "received_at": T0}  # fmt: skip
        return RoutingRows(report, [notification], version, [], [])

    batch = [rows("CL-OK-1", "CL-OK-1"), rows("CL-BAD", "CL-NOT-THERE"), rows("CL-OK-2", "CL-OK-2")]
    results = await asyncio.gather(*(store.record_routing(r) for r in batch), return_exceptions=True)
    async with engine.connect() as conn:
        metadata = MetaData()
        await conn.run_sync(lambda sync: metadata.reflect(sync, only=["reports"]))
        stored = sorted((await conn.execute(select(metadata.tables["reports"].c.report_id))).scalars())
    await engine.dispose()
    return list(results), stored


def test_a_routing_the_database_refuses_fails_alone(
    database: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    results, stored = asyncio.run(_failing_alone(_url(database, request, tmp_path, "refused")))
    print(f"\nrefused alone: {type(results[1]).__name__}")
    assert results[0] is None and results[2] is None
    assert type(results[1]).__name__ == "IntegrityError"
    assert stored == ["CL-OK-1", "CL-OK-2"]  # the refused one's report row rolled back with its notification
