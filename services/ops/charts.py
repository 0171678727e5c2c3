"""The series behind the page's charts: reports and notifications per minute, time to deliver and to
acknowledge (p50/p95) per recipient kind, and consumer lag per group. Counts and seconds only."""

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ops.queries import percentile
from shared.store.models import NotificationRecord, ReportRecord

N = NotificationRecord
ROW_CAP = 50_000  # a very busy window is sampled, newest first, rather than read without bound
ALL_KINDS = "all"


def per_minute(times: Iterable[datetime], since: datetime, minutes: int) -> list[int]:
    """How many of ``times`` fall in each minute from ``since``; later or earlier ones are left out."""
    counts = [0] * minutes
    for at in times:
        slot = int((at - since).total_seconds() // 60)
        if 0 <= slot < minutes:
            counts[slot] += 1
    return counts


def latency_series(
    rows: Iterable[tuple[str, datetime, datetime | None, datetime | None]], since: datetime, buckets: int, width: int
) -> dict[str, dict[str, list[float | None]]]:
    """Per kind (and all kinds together): p50/p95 seconds from routing to delivery and to acknowledgement,
    of the notifications routed in each bucket of ``width`` seconds."""
    samples: dict[tuple[str, str, int], list[float]] = {}
    for kind, created, delivered, acked in rows:
        slot = int((created - since).total_seconds() // width)
        if not 0 <= slot < buckets:
            continue
        for name, done in (("deliver", delivered), ("ack", acked)):
            if done is not None:
                for k in (kind, ALL_KINDS):
                    samples.setdefault((k, name, slot), []).append((done - created).total_seconds())
    kinds = sorted({k for k, _, _ in samples} | {ALL_KINDS})
    return {
        kind: {
            f"{name}_{label}": [percentile(samples.get((kind, name, slot), []), q) for slot in range(buckets)]
            for name in ("deliver", "ack")
            for label, q in (("p50", 0.5), ("p95", 0.95))
        }
        for kind in kinds
    }


async def activity(sessions: async_sessionmaker[AsyncSession], hours: float, bucket_minutes: int) -> dict[str, Any]:
    now = datetime.now(UTC).replace(second=0, microsecond=0) + timedelta(minutes=1)
    minutes = max(int(hours * 60), 1)
    since = now - timedelta(minutes=minutes)
    async with sessions() as session:
        reports = await session.scalars(
            select(ReportRecord.accepted_at)
            .where(ReportRecord.accepted_at >= since)
            .order_by(ReportRecord.accepted_at.desc())
            .limit(ROW_CAP)
        )
        report_times = list(reports)
        notifications = (
            await session.execute(
                select(N.recipient_kind, N.created_at, N.delivered_at, N.acknowledged_at)
                .where(N.created_at >= since)
                .order_by(N.created_at.desc())
                .limit(ROW_CAP)
            )
        ).all()
    buckets = max(minutes // bucket_minutes, 1)
    width = bucket_minutes * 60
    start = since.timestamp()
    return {
        "minutes": [start + 60 * i for i in range(minutes)],
        "reports": per_minute(report_times, since, minutes),
        "notifications": per_minute((row[1] for row in notifications), since, minutes),
        "latency": {
            "at": [start + width * i for i in range(buckets)],
            "kinds": latency_series(((r[0], r[1], r[2], r[3]) for r in notifications), since, buckets, width),
        },
    }


def lag_series(history: list[dict[str, Any]]) -> dict[str, Any]:
    """The lag tracker's samples as one series per consumer group (None where a group was not seen)."""
    groups = sorted({g for sample in history for g in sample["lag"]})
    return {
        "at": [sample["at"] for sample in history],
        "groups": {g: [sample["lag"].get(g) for sample in history] for g in groups},
    }
