"""The idempotency table on its own (SQLite): claim, replay, conflicts, release, and a dead claim taken over."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from shared.store.engine import make_engine, make_session_factory
from shared.store.idempotency import Claimed, Conflict, Replay, claim, complete, release
from shared.store.migrate import upgrade


def test_claim_replay_conflict_release_and_takeover(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}"
    upgrade(url)

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
