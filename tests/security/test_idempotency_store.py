"""The idempotency table on its own, on SQLite and PostgreSQL: claim, replay, conflicts, release, a dead claim
taken over, and many requests claiming one report at once (its statements commit one by one, no transaction)."""

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from devtools.infra.postgres_runtime import PostgresHandle
from shared.store.engine import make_engine, make_session_factory
from shared.store.idempotency import Claimed, Conflict, Replay, claim, complete, release
from shared.store.migrate import upgrade


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        made = f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}"
    else:
        handle: PostgresHandle = request.getfixturevalue("postgres")
        made = handle.create_database(f"idem_{uuid.uuid4().hex[:10]}")
    upgrade(made)
    return made


def test_claim_replay_conflict_release_and_takeover(url: str) -> None:
    async def run() -> None:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        now = datetime.now(UTC)

        async def go(rid: str, sha: str, key: str | None = None, at: datetime = now) -> object:
            return await claim(sessions, report_id=rid, content_sha256=sha, client_id="c1", idempotency_key=key, now=at)

        assert isinstance(await go("R1", "a", "k1"), Claimed)
        in_flight = await go("R1", "a")
        assert isinstance(in_flight, Conflict) and in_flight.in_flight
        await complete(sessions, "R1", 202, {"report_id": "R1"})
        assert await go("R1", "a") == Replay(202, {"report_id": "R1"})
        assert await go("R1", "a", "k1") == Replay(202, {"report_id": "R1"})
        changed = await go("R1", "b")
        assert isinstance(changed, Conflict) and "different content" in changed.reason
        reused = await go("R2", "c", "k1")
        assert isinstance(reused, Conflict) and "Idempotency-Key" in reused.reason
        assert isinstance(await go("R3", "d"), Claimed)
        await release(sessions, "R3")  # publishing failed: the retry may publish
        assert isinstance(await go("R3", "d"), Claimed)
        assert isinstance(await go("R3", "d", at=now + timedelta(seconds=5)), Conflict)  # still in flight
        assert isinstance(await go("R3", "d", at=now + timedelta(minutes=5)), Claimed)  # its owner died
        await engine.dispose()

    asyncio.run(run())


def test_of_many_requests_claiming_one_report_at_once_exactly_one_owns_it(url: str) -> None:
    """A client that retries fast (or two intake replicas given the same report): one claim wins, every other is
    told the report is in flight; with a key, the same holds for the key."""

    async def run() -> list[object]:
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        now = datetime.now(UTC)

        async def one(key: str | None) -> object:
            return await claim(sessions, report_id="R-RACE", content_sha256="same", client_id="c1",
                               idempotency_key=key, now=now)  # fmt: skip

        try:
            return list(await asyncio.gather(*(one("k-race" if i % 2 else None) for i in range(12))))
        finally:
            await engine.dispose()

    outcomes = asyncio.run(run())
    print(f"\n{sum(isinstance(o, Claimed) for o in outcomes)} claimed of {len(outcomes)}")
    assert sum(isinstance(o, Claimed) for o in outcomes) == 1
    assert all(isinstance(o, Conflict) and o.in_flight for o in outcomes if not isinstance(o, Claimed))
