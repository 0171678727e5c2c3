"""Poison, not forever, proven on PostgreSQL: a handler whose write the database refuses (a value too long for
its column, SQLSTATE 22001; a row naming a report that does not exist: IntegrityError) is dead-lettered with its
reason after a bounded number of tries (shared/consuming.py), never retried forever, and the letter carries
neither the record's contents nor the database's message (it may quote the value).

Needs PostgreSQL; run it under `heavy`.
"""

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord
from sqlalchemy import insert
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from devtools.infra.postgres_runtime import PostgresHandle
from shared import consuming
from shared.consuming import is_transient, reliably
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.models import NotificationRecord
from tests.security.probe import tried

pytestmark = pytest.mark.integration

SECRET = "Avery-Secret-Value"
NOW = datetime.now(UTC)


@dataclass
class RecordingBroker:
    published: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    async def publish(self, body: bytes, topic: str, **_: Any) -> None:
        self.published.append((topic, json.loads(body)))


@pytest.fixture
async def sessions(postgres: PostgresHandle, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    monkeypatch.setattr(consuming, "backoff_seconds", lambda attempt: 0.0)
    url = postgres.create_database(f"refusal_{id(monkeypatch) % 10_000_000}")
    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    yield make_session_factory(engine)
    await engine.dispose()


def _row(**overrides: Any) -> dict[str, Any]:
    return {
        "notification_id": "ntf_refused",
        "report_id": "CL-NO-SUCH-REPORT",
        "recipient_kind": "police",
        "agency_id": "pd-hartford",
        "agency_name": "Hartford PD",
        "reason": "unit",
        "fallback": False,
        "state": "pending",
        "created_at": NOW,
        "deadline_at": NOW + timedelta(hours=12),
        "attempts": 0,
    } | overrides


def _record() -> ConsumerRecord[bytes, bytes]:
    value = json.dumps({"child": {"first_name": SECRET}}).encode()
    return ConsumerRecord("careline.reports.v1", 0, 11, 0, 0, b"CL-1", value, None, 4, len(value), ())


@pytest.mark.parametrize(
    ("case", "row", "error"),
    [
        # asyncpg's "value too long" arrives as a plain DBAPIError (SQLSTATE 22001), not DataError: the SQLSTATE
        # decides (shared/database_outage.refused_by_database); before that it was retried forever.
        ("value too long for notifications.reason", {"reason": SECRET + "x" * 300}, DBAPIError),
        ("a notification naming no report", {}, IntegrityError),
    ],
)
async def test_a_write_postgresql_refuses_is_dead_lettered_after_bounded_tries(
    sessions: async_sessionmaker[AsyncSession], case: str, row: dict[str, Any], error: type[Exception]
) -> None:
    calls: list[BaseException] = []

    async def handle(_: ConsumerRecord[bytes, bytes]) -> None:
        try:
            async with sessions() as session, session.begin():
                await session.execute(insert(NotificationRecord), [_row(**row)])
        except Exception as exc:
            calls.append(exc)
            raise

    broker = RecordingBroker()
    await asyncio.wait_for(reliably(handle, broker, "dlq", asyncio.Event(), max_attempts=3)(_record()), 30)  # type: ignore[arg-type]
    [(topic, letter)] = broker.published
    tried(f"handler writing {case} on PostgreSQL", {"tries": len(calls), "error": type(calls[0]).__name__,
          "sqlstate": getattr(getattr(calls[0], "orig", None), "sqlstate", None),
          "letter": {k: letter[k] for k in ("reason", "attempts", "detail")}})  # fmt: skip
    assert all(isinstance(c, error) for c in calls) and not is_transient(calls[0])
    assert len(calls) == 3 and topic == "dlq" and letter["attempts"] == 3 and letter["reason"] == "handler_error"
    assert SECRET not in json.dumps(letter) and "too long" not in letter["detail"]
