"""One consumer, all of a group's topics, many records at once, nothing committed before it is durable.

The loop fetches batches (`getmany`) and hands each record to the lane of its order key (partition + the record's
`order-key` header, else its record key): a lane runs its records one after another, lanes run side by side. A
notification's order key is its agency and report, so one report's notifications to an agency keep their order,
a slow agency holds up no other, and an agency that gets every report (the HART lead) is not served one at a
time; a batch costs one commit instead of one per record. A
partition's committed offset moves only past records that are finished (shared/stream/offsets.py).

A record whose `not-before` header lies in the future (a retry tier) is not held in memory: its partition is
paused and rewound to it, and resumed when it is due. Every message in a tier has the same delay, so the
partition's head is its next due record.

What "finished" means, and what happens on failure, is the handler's business plus shared/stream/outcomes.py:
poison goes to the dead-letter topic, transient trouble is retried in place with backoff, anything else a bounded
number of times before it too is dead-lettered.
"""

import asyncio
import contextlib
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from aiokafka.structs import OffsetAndMetadata

from shared.stream.fetch_pace import FetchPace
from shared.stream.offsets import PartitionOffsets

log = structlog.get_logger(__name__)

RecordHandler = Callable[[ConsumerRecord[bytes, bytes]], Awaitable[None]]
NOT_BEFORE_HEADER = "not-before"
ORDER_KEY_HEADER = "order-key"
"""Records with the same order key (in a partition) are handled one after another; without it, the record key."""


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers or ():
        if key == name:
            return value.decode() if value is not None else None
    return None


def order_key(record: ConsumerRecord[bytes, bytes]) -> bytes | None:
    value = header(record, ORDER_KEY_HEADER)
    return value.encode() if value else record.key


def due_at(record: ConsumerRecord[bytes, bytes]) -> float | None:
    """Epoch seconds before which the record must not be handled (a retry tier's schedule), if any."""
    value = header(record, NOT_BEFORE_HEADER)
    if not value:
        return None
    try:
        return datetime.fromisoformat(value).astimezone(UTC).timestamp()
    except ValueError:
        return None  # a bad header makes the record due now; the handler still sees it


@dataclass
class _Partition:
    offsets: PartitionOffsets = field(default_factory=PartitionOffsets)
    lanes: dict[bytes | None, "asyncio.Queue[ConsumerRecord[bytes, bytes]]"] = field(default_factory=dict)
    workers: dict[bytes | None, asyncio.Task[None]] = field(default_factory=dict)
    resume_at: float | None = None  # paused until then (epoch seconds)
    revoked: bool = False


@dataclass(frozen=True)
class ConsumerOptions:
    max_records: int = 500  # per getmany
    max_in_flight: int = 2000  # records started and not finished, over all partitions
    # One OffsetCommit per second at most: each is a write to __consumer_offsets (acks=all) on the broker, and
    # at 0.2 s the busy groups sent as many commits as data records. A crash replays at most a second more.
    commit_interval_seconds: float = 1.0
    idle_poll_ms: int = 1000
    revoke_wait_seconds: float = 20.0
    # aiokafka retries a commit for as long as the coordinator is unknown; bounded, a commit that cannot be made
    # now is simply made later (or by the next owner), and the loop keeps turning.
    commit_timeout_seconds: float = 30.0
    # A loop that has not turned for this long is stuck, not busy (fetches and commits are bounded): health says
    # so, and the orchestrator's probe restarts the process (uncommitted records are read again).
    stalled_after_seconds: float = 120.0


class StreamConsumer:
    """Runs `handle` for every record of `topics` in consumer group `group_id` (see the module docstring)."""

    def __init__(
        self,
        name: str,
        topics: Iterable[str],
        group_id: str,
        handle: RecordHandler,
        consumer_kwargs: dict[str, object],
        options: ConsumerOptions | None = None,
    ) -> None:
        self.name = name
        self.topics = sorted(set(topics))
        self.group_id = group_id
        self._handle = handle
        self._options = options or ConsumerOptions()
        self._consumer_kwargs = consumer_kwargs
        self._consumer: AIOKafkaConsumer = None  # made in start(), inside the loop
        self._pace: FetchPace | None = None
        self._flowing = False  # the last poll returned records (fetch_pace.py: short fetch waits meanwhile)
        self._partitions: dict[TopicPartition, _Partition] = {}
        self._in_flight = 0
        self._capacity = asyncio.Event()
        self._capacity.set()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._last_commit = 0.0
        self._last_turn = time.monotonic()
        self.started = False

    def _new_consumer(self) -> AIOKafkaConsumer:
        return AIOKafkaConsumer(
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_interval_ms=600_000,
            **self._consumer_kwargs,
        )

    # --- lifecycle ------------------------------------------------------------------------------------------
    async def reset(self) -> None:
        """After a failed start: drop the half-started client; the next start begins afresh."""
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                await self._consumer.stop()
        self._consumer = None

    async def start(self) -> None:
        self._consumer = self._new_consumer()
        await self._consumer.start()
        self._pace = FetchPace(self._consumer)
        self._consumer.subscribe(self.topics, listener=_Rebalance(self))
        self._task = asyncio.create_task(self._run(), name=f"consume-{self.name}")
        self.started = True

    async def stop(self, graceful_seconds: float = 15.0) -> None:
        """Stop fetching, let records in hand finish (up to `graceful_seconds`), commit them, leave the group."""
        self._stopping.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        workers = [w for p in self._partitions.values() for w in p.workers.values()]
        if workers:
            _, pending = await asyncio.wait(workers, timeout=graceful_seconds)
            for worker in pending:
                worker.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._commit(force=True)
        await self._consumer.stop()

    @property
    def stopping(self) -> asyncio.Event:
        """Set when shutdown begins: a handler waiting to retry gives its record back instead of holding it."""
        return self._stopping

    # --- the loop -------------------------------------------------------------------------------------------
    def stalled_for(self) -> float:
        """Seconds the loop is overdue (0 while it turns); see ConsumerOptions.stalled_after_seconds."""
        if not self.started or self._stopping.is_set():
            return 0.0
        return max(0.0, time.monotonic() - self._last_turn - self._options.stalled_after_seconds)

    async def _run(self) -> None:
        while not self._stopping.is_set():
            self._last_turn = time.monotonic()
            if self._in_flight >= self._options.max_in_flight:
                self._capacity.clear()
                while not self._capacity.is_set():  # waiting on slow handlers is not a stall
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._capacity.wait(), timeout=5.0)
                    self._last_turn = time.monotonic()
            self._resume_due()
            try:
                batch = await self._consumer.getmany(
                    timeout_ms=self._poll_timeout_ms(), max_records=self._options.max_records
                )
            except KafkaError as exc:
                log.warning("kafka_fetch_failed", consumer=self.name, error_type=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for tp, records in batch.items():
                self._dispatch(tp, records)
            self._flowing = bool(batch)
            self._pace_fetches()  # before the next await: the fetcher builds its next request as soon as we yield
            await self._commit()

    def _resume_times(self) -> list[float]:
        return [p.resume_at for p in self._partitions.values() if p.resume_at is not None]

    def _pace_fetches(self) -> None:
        """Short fetch waits while records flow or a partition is paused until due, the long idle wait otherwise
        (fetch_pace.py)."""
        if self._pace is not None:
            self._pace.set(self._resume_times(), time.time(), self._flowing)

    def _poll_timeout_ms(self) -> int:
        waits = self._resume_times()
        if not waits:
            return self._options.idle_poll_ms
        return max(10, min(self._options.idle_poll_ms, int((min(waits) - time.time()) * 1000)))

    def _resume_due(self) -> None:
        now = time.time()
        for tp, partition in self._partitions.items():
            if partition.resume_at is not None and partition.resume_at <= now:
                partition.resume_at = None
                self._consumer.resume(tp)
        self._pace_fetches()

    def _dispatch(self, tp: TopicPartition, records: list[ConsumerRecord[bytes, bytes]]) -> None:
        partition = self._partitions.setdefault(tp, _Partition())
        if partition.resume_at is not None or partition.revoked:
            return  # fetched before the pause or revocation took effect; it will come again
        for record in records:
            due = due_at(record)
            if due is not None and due > time.time():
                partition.resume_at = due
                partition.offsets.forget_after(record.offset)
                self._consumer.pause(tp)
                self._consumer.seek(tp, record.offset)
                log.info("partition_paused_until_due", topic=tp.topic, partition=tp.partition, offset=record.offset,
                         due_in_seconds=round(due - time.time(), 1))  # fmt: skip
                return
            partition.offsets.started(record.offset)
            self._in_flight += 1
            key = order_key(record)
            lane = partition.lanes.get(key)
            if lane is None:
                lane = partition.lanes[key] = asyncio.Queue()
            lane.put_nowait(record)
            if key not in partition.workers:
                partition.workers[key] = asyncio.create_task(self._drain_lane(tp, partition, key))

    async def _drain_lane(self, tp: TopicPartition, partition: _Partition, key: bytes | None) -> None:
        lane = partition.lanes[key]
        try:
            while not lane.empty():
                record = lane.get_nowait()
                finished = False
                try:
                    await self._handle(record)
                    finished = True
                except GiveBack:
                    log.info("record_given_back_at_shutdown", topic=tp.topic, partition=tp.partition,
                             offset=record.offset)  # fmt: skip
                    return
                finally:
                    if finished:
                        partition.offsets.finished(record.offset)
                    self._in_flight -= 1
                    if self._in_flight < self._options.max_in_flight:
                        self._capacity.set()
        finally:
            partition.workers.pop(key, None)
            if lane.empty():
                partition.lanes.pop(key, None)

    # --- commits --------------------------------------------------------------------------------------------
    async def _commit(self, force: bool = False, only: Iterable[TopicPartition] | None = None) -> None:
        now = time.monotonic()
        if not force and now - self._last_commit < self._options.commit_interval_seconds:
            return
        self._last_commit = now
        chosen = list(only) if only is not None else list(self._partitions)
        offsets = {}
        for tp in chosen:
            position = self._partitions[tp].offsets.committable() if tp in self._partitions else None
            if position is not None:
                offsets[tp] = OffsetAndMetadata(position, "")
        if not offsets:
            return
        try:
            async with asyncio.timeout(self._options.commit_timeout_seconds):
                await self._consumer.commit(offsets)
        except (CommitFailedError, KafkaError, TimeoutError) as exc:
            # The group moved on (rebalance) or Kafka is away: the next owner re-reads from the last commit.
            log.warning("kafka_commit_failed", consumer=self.name, error_type=type(exc).__name__)
            return
        for tp, meta in offsets.items():
            if tp in self._partitions:
                self._partitions[tp].offsets.mark_committed(meta.offset)

    async def _revoked(self, revoked: set[TopicPartition]) -> None:
        """Before giving partitions away: finish their records in hand (bounded), commit, forget them."""
        mine = [tp for tp in revoked if tp in self._partitions]
        for tp in mine:
            self._partitions[tp].revoked = True
        workers = [w for tp in mine for w in self._partitions[tp].workers.values()]
        if workers:
            _, pending = await asyncio.wait(workers, timeout=self._options.revoke_wait_seconds)
            for worker in pending:
                worker.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._commit(force=True, only=mine)
        for tp in mine:
            partition = self._partitions.pop(tp)
            self._in_flight -= sum(lane.qsize() for lane in partition.lanes.values())  # never started
        self._capacity.set()

    def lag_hint(self) -> dict[str, int]:
        """Records in hand per topic (for health pages)."""
        counts: defaultdict[str, int] = defaultdict(int)
        for tp, partition in self._partitions.items():
            counts[tp.topic] += partition.offsets.in_flight
        return dict(counts)


class GiveBack(Exception):
    """The service is stopping before this record's work could begin: leave it uncommitted for the next owner."""


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, owner: StreamConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self._owner._partitions.setdefault(tp, _Partition())
