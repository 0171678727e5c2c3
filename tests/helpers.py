"""Helpers the integration and fault suites share: posting reports, reading the database, waiting."""

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from shared.envelope import EnvelopeError, EnvelopeSettings, Keyring, open_value
from shared.events import CarelineReport
from shared.store.models import AcknowledgementRecord, DeliveryAttemptRecord, NotificationRecord

if TYPE_CHECKING:
    from devtools.runner.pipeline import Pipeline


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await check():
            return True
        await asyncio.sleep(interval)
    return await check()


async def post_reports(client: httpx.AsyncClient, intake_url: str, reports: list[dict[str, Any]]) -> list[int]:
    statuses = []
    for report in reports:
        response = await client.post(f"{intake_url}/v1/reports", json=report)
        statuses.append(response.status_code)
    return statuses


async def notification_rows(engine: AsyncEngine, report_ids: list[str]) -> list[NotificationRecord]:
    async with engine.connect() as conn:
        result = await conn.execute(select(NotificationRecord).where(NotificationRecord.report_id.in_(report_ids)))
        return list(result.all())  # type: ignore[arg-type]


async def count(engine: AsyncEngine, model: Any, *where: Any) -> int:
    async with engine.connect() as conn:
        return int(await conn.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def delivery_summary(engine: AsyncEngine, report_ids: list[str]) -> dict[str, int]:
    """Per report set: notifications, delivered, acknowledged, ack rows, attempts."""
    rows = await notification_rows(engine, report_ids)
    ids = [r.notification_id for r in rows]
    return {
        "notifications": len(rows),
        "delivered": sum(r.delivered_at is not None for r in rows),
        "acknowledged": sum(r.acknowledged_at is not None for r in rows),
        "ack_rows": await count(engine, AcknowledgementRecord, AcknowledgementRecord.notification_id.in_(ids)),
        "attempts": await count(engine, DeliveryAttemptRecord, DeliveryAttemptRecord.notification_id.in_(ids)),
    }


def expected_notifications(report: dict[str, Any]) -> int:
    """As many notifications as the policy's decision names (5 for a plain DMST report in most towns)."""
    from tests.unit.routing_support import routed

    return len(routed(CarelineReport.model_validate(report)).recipients)


def pipeline_keyring(pipeline: "Pipeline") -> Keyring:
    """The envelope keys a pipeline's services were given: reads what they sealed (notifications, reports)."""
    env = pipeline.services["router"].env
    keyring = Keyring.from_settings(
        EnvelopeSettings(keys=env["ENVELOPE_KEYS"], current_key_id=env.get("ENVELOPE_CURRENT_KEY_ID"))
    )
    assert keyring is not None
    return keyring


def notification_json(value: bytes | None, keyring: Keyring) -> Any:
    """A notification record's JSON, opened when sealed (shared/envelope.py seal_value); {} for a record another
    pipeline of this test session sealed with its own key (the topics are shared; its reports are not ours)."""
    try:
        return json.loads(open_value(value or b"", keyring))
    except EnvelopeError:
        return {}
