"""Readings the benchmark takes: CPU time and RSS of process trees (from /proc), latency percentiles,
and how many records all topics gained (from the brokers' end offsets)."""

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

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
