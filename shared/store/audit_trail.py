"""The audit trail's own records (audit_events): what the immutable tables lack, written once per dedupe key.

Acknowledgements as they arrived, re-notifications, escalations, deadlines met or missed. Every write
carries a dedupe key, so replays and restarts add nothing. Ids, times, outcomes and the policy's own
reasons only: never personal data.
"""

from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from shared.store.models import AuditEventRecord
from shared.store.upsert import inserted_keys


@dataclass(frozen=True)
class AuditEntry:
    occurred_at: datetime
    event: str
    actor: str
    dedupe_key: str
    report_id: str | None = None
    notification_id: str | None = None
    agency_id: str | None = None
    detail: str | None = None


_COLUMNS = tuple(f.name for f in fields(AuditEntry))


def _row(entry: AuditEntry) -> dict[str, object]:
    """The entry's fields as they are: `dataclasses.asdict` deep-copies every value (its datetimes too), for rows
    that are only read."""
    return {name: getattr(entry, name) for name in _COLUMNS}


async def add_audit(session: AsyncSession, entry: AuditEntry) -> bool:
    """True when this call wrote the record; False when its dedupe key was already there."""
    return entry.dedupe_key in await add_audits(session, [entry])


async def add_audits(session: AsyncSession, entries: list[AuditEntry]) -> set[str]:
    """Write many records in one statement; returns the dedupe keys this call wrote (the others were there)."""
    rows = [{**_row(entry), "detail": (entry.detail or "")[:500] or None} for entry in entries]
    return set(await inserted_keys(session, AuditEventRecord, rows, returning="dedupe_key"))


async def dedupe_key_seen(session: AsyncSession, dedupe_key: str) -> bool:
    found = await session.scalar(select(AuditEventRecord.id).where(AuditEventRecord.dedupe_key == dedupe_key))
    return found is not None
