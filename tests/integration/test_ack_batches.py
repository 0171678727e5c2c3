"""Acknowledgements recorded in batches (group commit) end exactly as the same acknowledgements recorded one at a
time, on PostgreSQL and SQLite: the same outcomes, the same rows, the same audit trail, the same timers
cancelled; and one acknowledgement the database refuses fails alone, not its batch-mates."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select

from devtools.infra.postgres_runtime import PostgresHandle
from shared.store.acknowledging import AckInput, AckOutcome, notifications_and_replays, record_ack, record_acks
from shared.store.batching import ItemFailed
from shared.store.engine import make_engine, make_session_factory
from shared.store.migrate import upgrade
from shared.store.models import (
    AcknowledgementRecord,
    AuditEventRecord,
    EscalationTimerRecord,
    NotificationRecord,
    ReportRecord,
    table_of,
)

T0 = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
IDS = [f"ntf_batch_{i}" for i in range(6)]


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database per test."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'acks.db'}"
    else:
        handle: PostgresHandle = request.getfixturevalue("postgres")
        url = handle.create_database(f"acks_{uuid.uuid4().hex[:10]}")
    upgrade(url)
    yield url


async def _seed(url: str) -> None:
    engine = make_engine(url)
    async with engine.begin() as conn:
        await conn.execute(
            table_of(ReportRecord).insert(),
            {"report_id": "CL-BATCH-1", "received_at": T0, "accepted_at": T0, "content_sha256": "0" * 64,
             "classification": "dmst", "policy_version": "v", "notification_count": len(IDS),
             "first_routed_at": T0, "duplicates_received": 0},
        )  # fmt: skip
        await conn.execute(
            table_of(NotificationRecord).insert(),
            [
                {"notification_id": nid, "report_id": "CL-BATCH-1", "recipient_kind": "police",
                 "agency_id": "pd-hartford", "agency_name": "Hartford PD", "reason": "unit", "fallback": False,
                 "state": "delivered", "created_at": T0, "deadline_at": T0 + timedelta(hours=12), "attempts": 1}
                for nid in IDS
            ],
        )  # fmt: skip
        await conn.execute(
            table_of(EscalationTimerRecord).insert(),
            [
                {"notification_id": nid, "step": step, "action": "renotify", "target_agency_id": "pd-hartford",
                 "due_at": T0 + timedelta(minutes=15 * (step + 1))}
                for nid in IDS for step in range(2)
            ],
        )  # fmt: skip
    await engine.dispose()


def _ack(nid: str, webhook_id: str, minutes: float, deadline_hours: float = 12) -> AckInput:
    return AckInput(nid, "CL-BATCH-1", "pd-hartford", "badge-7", None, webhook_id, T0 + timedelta(minutes=minutes),
                    T0 + timedelta(hours=deadline_hours), "webhook")  # fmt: skip


FIRST = [_ack(IDS[0], "wh-0", 1), _ack(IDS[1], "wh-1", 2)]
# After FIRST: new acknowledgements (one past its deadline), a new webhook-id for an acknowledged notification,
# a replayed webhook-id, a webhook-id already used for another notification.
BATCH = [
    _ack(IDS[2], "wh-2", 3),
    _ack(IDS[3], "wh-3", 13 * 60, deadline_hours=12),
    _ack(IDS[0], "wh-0-again", 4),
    _ack(IDS[1], "wh-1", 5),
    _ack(IDS[4], "wh-0", 6),
    _ack(IDS[5], "wh-5", 7),
]


async def _state(url: str) -> dict[str, Any]:
    engine = make_engine(url)
    async with engine.connect() as conn:
        acks = sorted(
            (r.notification_id, r.webhook_id, r.acknowledged_at.replace(tzinfo=None))
            for r in await conn.execute(select(AcknowledgementRecord))
        )
        audit = sorted(
            (r.event, r.dedupe_key, r.notification_id, r.detail, r.occurred_at.replace(tzinfo=None))
            for r in await conn.execute(select(AuditEventRecord))
        )
        notes = sorted(
            (r.notification_id, r.state, r.acknowledged_at and r.acknowledged_at.replace(tzinfo=None))
            for r in await conn.execute(select(NotificationRecord))
        )
        timers = sorted(
            (r.notification_id, r.step, r.cancelled_at and r.cancelled_at.replace(tzinfo=None))
            for r in await conn.execute(select(EscalationTimerRecord))
        )
    await engine.dispose()
    return {"acks": acks, "audit": audit, "notifications": notes, "timers": timers}


async def _run(url: str, together: bool) -> tuple[list[Any], dict[str, Any]]:
    await _seed(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    for ack in FIRST:
        assert await record_ack(sessions, ack) is AckOutcome.RECORDED
    transactions: list[object] = []
    event.listen(engine.sync_engine, "begin", transactions.append)
    if together:
        outcomes: list[Any] = list(await record_acks(sessions, BATCH))
    else:
        outcomes = [await record_ack(sessions, ack) for ack in BATCH]
    await engine.dispose()
    return [*outcomes, len(transactions)], await _state(url)


def test_a_batch_ends_exactly_as_the_same_acknowledgements_one_at_a_time(
    database: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    together, state_together = asyncio.run(_run(database, together=True))
    if database.startswith("sqlite"):
        alone_url = f"sqlite+aiosqlite:///{tmp_path / 'alone.db'}"
    else:
        alone_url = request.getfixturevalue("postgres").create_database(f"acks_{uuid.uuid4().hex[:10]}")
    upgrade(alone_url)
    alone, state_alone = asyncio.run(_run(alone_url, together=False))
    *together, batch_transactions = together
    *alone, alone_transactions = alone
    print(f"\nbatch outcomes: {[str(o) for o in together]}; transactions {batch_transactions} vs {alone_transactions}")
    assert batch_transactions == 1 and alone_transactions == len(BATCH)
    assert (
        together
        == alone
        == [
            AckOutcome.RECORDED,
            AckOutcome.RECORDED,
            AckOutcome.ALREADY_ACKNOWLEDGED,
            AckOutcome.REPLAYED,
            AckOutcome.REPLAYED,
            AckOutcome.RECORDED,
        ]
    )
    assert state_together == state_alone
    # What the batch itself must have done, not only "the same as alone":
    events = [(e, k) for e, k, *_ in state_together["audit"]]
    assert ("deadline_missed", f"deadline:{IDS[3]}") in events
    assert ("deadline_met", f"deadline:{IDS[2]}") in events
    assert ("ack_repeated", "ack-webhook:wh-0-again") in events
    assert not any(nid == IDS[4] for nid, *_ in state_together["acks"])  # the foreign webhook-id wrote nothing
    cancelled = {nid for nid, _, at in state_together["timers"] if at is not None}
    assert cancelled == {IDS[0], IDS[1], IDS[2], IDS[3], IDS[5]}
    details = {k: d for _, k, _, d, _ in state_together["audit"]}
    assert details[f"deadline:{IDS[5]}"].endswith("2 pending escalation(s) cancelled")


async def _failing_alone(url: str) -> tuple[list[Any], dict[str, Any]]:
    await _seed(url)
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    batch = [_ack(IDS[0], "wh-a", 1), _ack("ntf_not_in_store", "wh-b", 2), _ack(IDS[1], "wh-c", 3)]
    results = list(await record_acks(sessions, batch))
    looked_up = await notifications_and_replays(sessions, [(IDS[0], "wh-a"), ("ntf_not_in_store", "wh-x"),
                                                           (IDS[2], "wh-never")])  # fmt: skip
    await engine.dispose()
    return [results, looked_up], await _state(url)


def test_an_acknowledgement_the_database_refuses_fails_alone(database: str) -> None:
    (results, looked_up), state = asyncio.run(_failing_alone(database))
    assert results[0] is AckOutcome.RECORDED and results[2] is AckOutcome.RECORDED
    assert isinstance(results[1], ItemFailed)
    print(f"\nrefused alone: {type(results[1].error).__name__}")
    assert [nid for nid, *_ in state["acks"]] == [IDS[0], IDS[1]]
    (first, first_seen), (missing, _), (third, third_seen) = looked_up
    assert first is not None and first.acknowledged_at is not None and first_seen  # its webhook-id is now used
    assert missing is None
    assert third is not None and third.acknowledged_at is None and not third_seen
