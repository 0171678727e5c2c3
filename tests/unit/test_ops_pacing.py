"""Ops samples often only while someone watches: unwatched it sleeps the long pace, a page poll wakes it at once,
and a minute without polls sends it back to the long pace."""

import asyncio
import time

import pytest

from services.ops.pacing import Pace


def test_unwatched_sleeps_the_long_pace_and_a_look_wakes_it_at_once() -> None:
    async def scenario() -> tuple[float, float, bool, float]:
        pace = Pace(watched_seconds=0.05, unwatched_seconds=30.0)
        t0 = time.monotonic()
        sleepers = [asyncio.create_task(pace.sleep()) for _ in range(2)]  # the lag sampler and the gauges
        await asyncio.sleep(0.2)
        assert not any(s.done() for s in sleepers)  # still in the 30 s sleep
        pace.seen()
        await asyncio.wait_for(asyncio.gather(*sleepers), timeout=1)
        woken_after = time.monotonic() - t0
        t1 = time.monotonic()
        await pace.sleep()
        return woken_after, time.monotonic() - t1, pace.watched, pace.seconds

    woken_after, watched_sleep, watched, seconds = asyncio.run(scenario())
    print(f"\nboth samplers woken after {woken_after:.2f} s; watched pace slept {watched_sleep:.3f} s")
    assert woken_after < 1.0
    assert watched and seconds == 0.05
    assert 0.04 <= watched_sleep < 1.0


def test_a_minute_without_looks_returns_to_the_unwatched_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1000.0]
    monkeypatch.setattr(time, "monotonic", lambda: clock[0])
    pace = Pace(watched_seconds=5, unwatched_seconds=30, watch_window_seconds=60)
    assert pace.seconds == 30 and not pace.watched
    pace.seen()
    assert pace.seconds == 5
    clock[0] += 59
    assert pace.seconds == 5
    clock[0] += 2
    assert pace.seconds == 30 and not pace.watched
