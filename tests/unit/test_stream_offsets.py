"""The committed offset of a partition moves only past records that are finished, whatever order they finish in;
and many small writes submitted at once become one flush (shared/store/batching.py)."""

import asyncio

from shared.store.batching import Coalescer
from shared.stream.offsets import PartitionOffsets


def test_the_first_unfinished_record_is_where_a_restart_reads_from() -> None:
    offsets = PartitionOffsets()
    offsets.started(5)
    assert offsets.committable() == 5  # never past it
    offsets.mark_committed(5)
    assert offsets.committable() is None


def test_out_of_order_completion_commits_only_the_finished_prefix() -> None:
    offsets = PartitionOffsets()
    for o in (10, 11, 12, 13):
        offsets.started(o)
    offsets.finished(12)
    offsets.finished(11)
    assert offsets.committable() == 10  # 10 is still in hand: a restart must read it again
    offsets.mark_committed(10)
    offsets.finished(10)
    assert offsets.committable() == 13  # 13 is next to read
    offsets.mark_committed(13)
    assert offsets.committable() is None  # nothing new since
    offsets.finished(13)
    assert offsets.committable() == 14 and offsets.in_flight == 0


def test_a_seek_back_forgets_the_records_that_will_come_again() -> None:
    offsets = PartitionOffsets()
    for o in (0, 1):
        offsets.started(o)
        offsets.finished(o)
    offsets.forget_after(2)  # offset 2 is not due: the consumer rewinds to it
    assert offsets.committable() == 2


async def test_submissions_at_the_same_moment_share_one_flush() -> None:
    flushes: list[list[int]] = []

    async def flush(items: list[int]) -> list[int]:
        flushes.append(items)
        await asyncio.sleep(0.01)
        return [i * 10 for i in items]

    coalescer: Coalescer[int, int] = Coalescer(flush, concurrency=1)
    results = await asyncio.gather(*(coalescer.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert len(flushes) < 5 and sum(map(len, flushes)) == 50


async def test_a_failed_flush_fails_each_of_its_callers() -> None:
    async def flush(items: list[int]) -> list[int]:
        raise ConnectionRefusedError()

    coalescer: Coalescer[int, int] = Coalescer(flush)
    outcomes = await asyncio.gather(*(coalescer.submit(i) for i in range(3)), return_exceptions=True)
    assert all(isinstance(o, ConnectionRefusedError) for o in outcomes)
