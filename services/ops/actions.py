"""Ops actions: redrive dead letters (one, or an agency's) and re-enable a disabled endpoint.

Redrive calls shared.redrive, as the CLI does (read the dead-letter topic, keep what the database still
says is dead-lettered, republish with the redrive header), so the page and the CLI behave the same.
"""

from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from services.ops.action_log import record_action
from shared.redrive import read_dead_letters, redrive, still_dead
from shared.settings import KafkaSettings
from shared.store.repository import Store


@dataclass(frozen=True)
class RedriveResult:
    redriven: list[str]


async def redrive_dead_letters(
    kafka: KafkaSettings,
    sessions: async_sessionmaker[AsyncSession],
    actor: str,
    *,
    notification_id: str | None = None,
    agency_id: str | None = None,
) -> RedriveResult:
    if not notification_id and not agency_id:
        raise ValueError("name a notification or an agency")
    dead = await still_dead(Store(sessions), await read_dead_letters(kafka))
    chosen = [
        d
        for d in dead
        if (notification_id and d.notification.notification_id == notification_id)
        or (agency_id and d.notification.agency_id == agency_id)
    ]
    if chosen:
        await redrive(kafka, chosen)
    for item in chosen:
        n = item.notification
        await record_action(
            sessions,
            event="ops_redrive",
            actor=actor,
            report_id=n.report_id,
            notification_id=n.notification_id,
            agency_id=n.agency_id,
            detail=f"redriven from the ops page (dead-letter reason {item.letter.reason})",
        )
    return RedriveResult([d.notification.notification_id for d in chosen])


async def enable_endpoint(sessions: async_sessionmaker[AsyncSession], actor: str, agency_id: str) -> None:
    await Store(sessions).set_endpoint_disabled(
        agency_id, False, reason="re-enabled by ops", by=f"ops:{actor}", at=datetime.now(UTC)
    )
    await record_action(sessions, event="ops_endpoint_enabled", actor=actor, agency_id=agency_id)
