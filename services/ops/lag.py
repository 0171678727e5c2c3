"""Consumer lag read from Kafka itself: committed offset per group and partition against the log end.

A background sampler keeps 15 minutes of history per group so the page can draw the trend, and exports the
current lag as a Prometheus gauge for alerting.
"""

import contextlib
import time
import uuid
from collections import deque
from dataclasses import asdict, dataclass
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.admin import AIOKafkaAdminClient

from services.ops.metrics import CONSUMER_LAG
from services.ops.pacing import Pace
from shared.kafka import admin_client_kwargs
from shared.kafka_lag import committed_and_log_ends
from shared.settings import KafkaSettings

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    log_end: int
    lag: int


class LagReader:
    """One admin client and one group-less consumer (for log-end offsets), reused between samples."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._consumer is None:
            kwargs = admin_client_kwargs(self._kafka)
            admin = AIOKafkaAdminClient(bootstrap_servers=self._kafka.bootstrap_servers, **kwargs)
            consumer = AIOKafkaConsumer(
                bootstrap_servers=self._kafka.bootstrap_servers,
                enable_auto_commit=False,
                client_id=f"ops-lag-{uuid.uuid4().hex[:6]}",
                **kwargs,
            )
            await admin.start()
            await consumer.start()
            self._admin, self._consumer = admin, consumer
        return self._admin, self._consumer

    async def read(self) -> list[PartitionLag]:
        committed, ends = await committed_and_log_ends(*await self._clients())
        rows = []
        for group, offsets in committed.items():
            for tp, offset in sorted(offsets.items()):
                end = int(ends.get(tp, offset))
                rows.append(PartitionLag(group, tp.topic, tp.partition, offset, end, max(end - offset, 0)))
        return rows

    async def close(self) -> None:
        for client in (self._consumer, self._admin):
            if client is not None:
                with contextlib.suppress(Exception):
                    await (client.stop() if isinstance(client, AIOKafkaConsumer) else client.close())
        self._admin = self._consumer = None


class LagTracker:
    """Samples lag periodically; keeps the latest rows and a per-group total lag history."""

    def __init__(self, reader: LagReader, pace: Pace, history_minutes: int) -> None:
        self._reader = reader
        self._pace = pace
        self._history_seconds = history_minutes * 60
        self.latest: list[PartitionLag] = []
        self.error: str | None = None
        self.history: deque[tuple[float, dict[str, int]]] = deque()

    async def sample(self) -> None:
        try:
            rows = await self._reader.read()
        except Exception as exc:
            self.error = type(exc).__name__
            log.warning("lag_read_failed", error_type=self.error)
            await self._reader.close()
            return
        self.error = None
        self.latest = rows
        totals: dict[str, int] = {}
        for row in rows:
            totals[row.group] = totals.get(row.group, 0) + row.lag
            CONSUMER_LAG.labels(row.group, row.topic, str(row.partition)).set(row.lag)
        now = time.time()
        self.history.append((now, totals))
        while self.history and self.history[0][0] < now - self._history_seconds:
            self.history.popleft()

    async def run(self) -> None:
        while True:
            await self.sample()
            await self._pace.sleep()

    def snapshot(self) -> dict[str, Any]:
        """What the page shows; reading it counts as someone watching (lag is then sampled at the watched pace)."""
        self._pace.seen()
        return {
            "error": self.error,
            "partitions": [asdict(r) for r in self.latest],
            "history": [{"at": at, "lag": totals} for at, totals in self.history],
        }
