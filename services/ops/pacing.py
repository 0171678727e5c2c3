"""How often ops samples lag and refreshes its alert gauges: often while someone has the page open, rarely while
nobody does. An idle pipeline with nobody watching should cost next to nothing; Prometheus' alert windows are
minutes long, and the page, once opened, wakes the samplers at once."""

import asyncio
import time


class Pace:
    def __init__(self, watched_seconds: float, unwatched_seconds: float, watch_window_seconds: float = 60.0) -> None:
        self.watched_seconds = watched_seconds
        self.unwatched_seconds = max(unwatched_seconds, watched_seconds)
        self._window = watch_window_seconds
        self._seen_at: float | None = None
        self._wake = asyncio.Event()

    @property
    def watched(self) -> bool:
        return self._seen_at is not None and time.monotonic() - self._seen_at < self._window

    @property
    def seconds(self) -> float:
        return self.watched_seconds if self.watched else self.unwatched_seconds

    def seen(self) -> None:
        """Someone looked (a page poll): samplers sleeping at the unwatched pace wake now."""
        was_watched = self.watched
        self._seen_at = time.monotonic()
        if not was_watched:
            woken, self._wake = self._wake, asyncio.Event()
            woken.set()

    async def sleep(self) -> None:
        wake = self._wake
        try:
            await asyncio.wait_for(wake.wait(), timeout=self.seconds)
        except TimeoutError:
            pass
