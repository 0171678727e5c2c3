"""Readings the benchmark takes: CPU time and RSS of process trees (from /proc), latency percentiles,
and how many records all topics gained (from the brokers' end offsets)."""

import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.kafka_lag import committed_and_log_ends

_TICKS = os.sysconf("SC_CLK_TCK")
_PAGE = os.sysconf("SC_PAGE_SIZE")


def _children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return found


def process_tree(pid: int) -> list[int]:
    """A process and all its descendants (PostgreSQL's backends, a JVM's helpers)."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += _children(current)
    return tree


def cpu_seconds(pids: Iterable[int]) -> float:
    """User + system CPU of the given processes, including their reaped children."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return total / _TICKS


def thread_cpu(pid: int) -> dict[str, float]:
    """CPU seconds per thread name of one process (a JVM names its native threads: `kafka-scheduler`,
    `C2 CompilerThre`, `quorum-controll`, ...; threads of one name are summed)."""
    used: dict[str, float] = defaultdict(float)
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            name = (task / "comm").read_text().strip()
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        used[name] += (int(fields[11]) + int(fields[12])) / _TICKS
    return used


def busiest(before: dict[str, float], after: dict[str, float], seconds: float, top: int = 12) -> dict[str, float]:
    """The threads that used the most CPU between two `thread_cpu` readings, as % of one core."""
    used = {name: 100 * (after[name] - before.get(name, 0.0)) / seconds for name in after}
    return {name: round(p, 2) for name, p in sorted(used.items(), key=lambda kv: -kv[1])[:top] if p > 0}


def rss_mib(pids: Iterable[int]) -> float:
    total = 0
    for pid in pids:
        try:
            total += int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except OSError:
            continue
    return total * _PAGE / 2**20


@dataclass
class ProcessGroup:
    """A named thing to measure: one service, the broker, or the database server."""

    name: str
    root_pid: int

    def cpu(self) -> float:
        return cpu_seconds(process_tree(self.root_pid))

    def rss(self) -> float:
        return rss_mib(process_tree(self.root_pid))


def cpu_snapshot(groups: Sequence[ProcessGroup]) -> dict[str, float]:
    return {g.name: g.cpu() for g in groups}


def cpu_delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {name: after[name] - before.get(name, 0.0) for name in after}


def percentiles(values: Sequence[float]) -> dict[str, float | None]:
    """p50/p95/p99/max in milliseconds (nearest-rank)."""
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(q: float) -> float:
        return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered) + 0.5) - 1))] * 1000

    return {"count": len(ordered), "p50": rank(0.50), "p95": rank(0.95), "p99": rank(0.99), "max": ordered[-1] * 1000}


async def records_on_all_topics(bootstrap_servers: str) -> int:
    """Sum of every partition's end offset over the pipeline's topics: what producers have appended so far.

    The partitions come from a metadata request (the admin client's), not from the consumer's cache, which
    knows no topic it has not been asked about and would make every sum 0."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        described = await admin.describe_topics()
        partitions = [
            TopicPartition(t["topic"], p["partition"])
            for t in described
            if not t["topic"].startswith(("__", "bench."))
            for p in t["partitions"]
        ]
        ends = await consumer.end_offsets(partitions)
        return sum(ends.values())
    finally:
        await consumer.stop()
        await admin.close()


# Throwaway readers are no part of the pipeline's health (as the ops page's lag reader); retry tiers hold each
# record until it is due by design, so their lag is reported apart and never counted as a stall.
_RETRY_TIER = ".retry-"


@dataclass
class GroupLag:
    """One consumer group: records behind the log end, and the age of the oldest record it has not committed."""

    group: str
    records: int
    seconds: float
    partitions_behind: int
    topics: frozenset[str]

    @property
    def retry_tier(self) -> bool:
        """Only retry tiers: their records wait until due, so their age is no stall."""
        return bool(self.topics) and all(_RETRY_TIER in t for t in self.topics)


class LagProbe:
    """Consumer lag of every pipeline group, in records and in seconds (now minus the timestamp of the first
    uncommitted record), read from the broker with one admin client and one group-less consumer.

    A partition a group never committed on has no position to measure and is skipped (as the ops page does)."""

    def __init__(self, bootstrap_servers: str) -> None:
        self.bootstrap = bootstrap_servers
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap, request_timeout_ms=5000)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self.bootstrap, enable_auto_commit=False, request_timeout_ms=5000
            )
            try:
                await admin.start()
                await consumer.start()
            except Exception:
                await _quietly_close(admin, consumer)
                raise
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def read(self) -> dict[str, GroupLag]:
        """Every group's lag now; raises while the broker does not answer (the caller retries)."""
        try:
            return await self._read()
        except Exception:
            await self.close()  # a client that met a dead broker is not trusted again
            raise

    async def _read(self) -> dict[str, GroupLag]:
        admin, consumer = await self._clients()
        committed, ends = await committed_and_log_ends(admin, consumer)
        behind = {(tp, off) for offsets in committed.values() for tp, off in offsets.items() if off < ends.get(tp, off)}
        stamps = await self._timestamps(consumer, behind)
        now = time.time()
        lags = {}
        for group, offsets in committed.items():
            late = [(tp, off) for tp, off in offsets.items() if (tp, off) in behind]
            ages = [now - stamps[key] for key in late if key in stamps]
            lags[group] = GroupLag(
                group,
                sum(ends[tp] - off for tp, off in late),
                # a record behind whose timestamp could not be read counts as too old (inf): never a false all-clear
                max(ages, default=0.0) if len(ages) == len(late) else float("inf"),
                len(late),
                frozenset(tp.topic for tp in offsets),
            )
        return lags

    async def _timestamps(
        self, consumer: AIOKafkaConsumer, wanted: set[tuple[TopicPartition, int]]
    ) -> dict[tuple[TopicPartition, int], float]:
        """The timestamp (s) of the record at each (partition, offset): one fetch per partition, 3 s at most."""
        found: dict[tuple[TopicPartition, int], float] = {}
        by_partition: dict[TopicPartition, list[int]] = {}
        for tp, off in wanted:
            by_partition.setdefault(tp, []).append(off)
        for offsets in by_partition.values():
            offsets.sort()
        pending = {(tp, off) for tp, off in wanted}
        deadline = time.monotonic() + 3.0
        while pending and time.monotonic() < deadline:
            # one position per partition per round: the lowest offset still wanted
            current: dict[TopicPartition, int] = {}
            for tp, off in sorted(pending):
                current.setdefault(tp, off)
            consumer.assign(list(current))
            for tp, off in current.items():
                consumer.seek(tp, off)
            batch = await consumer.getmany(*current, timeout_ms=1000, max_records=len(current) * 4)
            for tp, records in batch.items():
                if records:
                    first = records[0]
                    found[(tp, current[tp])] = first.timestamp / 1000
                    pending.discard((tp, current[tp]))
        consumer.assign([])
        return found

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        await _quietly_close(admin, consumer)


async def _quietly_close(admin: AIOKafkaAdminClient | None, consumer: AIOKafkaConsumer | None) -> None:
    with contextlib.suppress(Exception):
        if consumer is not None:
            await consumer.stop()
    with contextlib.suppress(Exception):
        if admin is not None:
            await admin.close()
