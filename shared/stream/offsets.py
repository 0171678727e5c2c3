"""Which offset of a partition may be committed while its records finish out of order.

Records of different keys complete in any order; the committed offset may only move past a record once it and
every record before it are done, so a crash replays at worst the unfinished ones (at-least-once)."""

import heapq


class PartitionOffsets:
    """Offsets handed out for one partition, and the next offset it is safe to commit."""

    def __init__(self) -> None:
        self._pending: list[int] = []  # heap of offsets started and not done
        self._done: set[int] = set()
        self._highest_seen = -1
        self._committed = -1  # last value returned by committable()/mark_committed

    def started(self, offset: int) -> None:
        heapq.heappush(self._pending, offset)
        self._highest_seen = max(self._highest_seen, offset)

    def finished(self, offset: int) -> None:
        self._done.add(offset)
        while self._pending and self._pending[0] in self._done:
            self._done.discard(heapq.heappop(self._pending))

    def forget_after(self, offset: int) -> None:
        """The consumer seeks back to `offset` (a record not due yet): records from it on will come again."""
        self._pending = [o for o in self._pending if o < offset]
        heapq.heapify(self._pending)
        self._done = {o for o in self._done if o < offset}
        self._highest_seen = min(self._highest_seen, offset - 1)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def committable(self) -> int | None:
        """The offset to commit (the next record to read after a restart), or None when nothing new is done."""
        position = self._pending[0] if self._pending else self._highest_seen + 1
        if position <= 0 or position - 1 <= self._committed:
            return None
        return position

    def mark_committed(self, position: int) -> None:
        self._committed = max(self._committed, position - 1)
