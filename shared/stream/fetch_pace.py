"""How long the broker may hold this consumer's next fetch.

A fetch that finds nothing is held by the broker for the consumer's `fetch_max_wait_ms`; records that arrive
meanwhile are returned at once, so a long wait costs no latency, and the idle asking (a fetch per wait, per
consumer, covering every partition it reads) is most of what an idle consumer costs. One case needs a short wait:
aiokafka adds a resumed partition only to the fetch after the one in flight, so while a partition is paused until
its head is due (a retry tier), a long wait would make a due retry start that much late. The engine therefore
shortens the wait while any partition is paused, never past the soonest due time, and restores it when none is.

A second case needs it while records flow: aiokafka leaves a partition whose fetched records are not all handed
out yet (for more than its 100 ms prefetch backoff) out of the next fetch, and sends no other fetch to that broker
until that one returns. With the long wait, that fetch of the other, idle partitions was held 5 s, and the busy
partition waited behind it: every notification of one agency (one key, one partition) arrived 5 s late at 50
reports/s. So after a poll that returned records the wait is short; the first empty poll restores the long one.
"""

from aiokafka import AIOKafkaConsumer

RESUMING_FETCH_WAIT_MS = 1000
"""The longest wait while a partition is paused: bounds how late a due record can start."""
FLOWING_FETCH_WAIT_MS = 100
"""The longest wait while records flow: bounds how long a partition left out of a fetch waits for the next."""


def fetch_wait_ms(resume_at: list[float], now: float, idle_ms: int, flowing: bool = False) -> int:
    """`resume_at`: epoch seconds at which paused partitions are due; `idle_ms`: the consumer's configured wait;
    `flowing`: the last poll returned records."""
    limits = [idle_ms]
    if flowing:
        limits.append(FLOWING_FETCH_WAIT_MS)
    if resume_at:
        limits += [RESUMING_FETCH_WAIT_MS, round((min(resume_at) - now) * 1000)]
    return max(10, min(limits))


class FetchPace:
    """Applies `fetch_wait_ms` to a started consumer's fetcher (aiokafka builds every fetch request from it)."""

    def __init__(self, consumer: AIOKafkaConsumer) -> None:
        self._fetcher = getattr(consumer, "_fetcher", None)  # aiokafka 0.14: made by start(); absent -> no pacing
        self.idle_ms: int = getattr(self._fetcher, "_fetch_max_wait_ms", 0)

    @property
    def current_ms(self) -> int:
        return int(getattr(self._fetcher, "_fetch_max_wait_ms", 0))

    def set(self, resume_at: list[float], now: float, flowing: bool = False) -> None:
        if self._fetcher is not None and self.idle_ms:
            self._fetcher._fetch_max_wait_ms = fetch_wait_ms(resume_at, now, self.idle_ms, flowing)
