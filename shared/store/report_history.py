"""What the router remembers about each report, without personal data: versions, holders, match keys, link notices.

- report_versions: one row per (report, version): its content hash and a keyed digest (HMAC) per field, so an
  amendment's changed fields can be found without keeping the fields themselves.
- report_holders: which agency holds a report (was sent its first notification) and since which version.
- report_match_keys: keyed digests of the child (normalised name + birth date) and of each alleged-trafficker
  identifier; two reports sharing one are linked (deconfliction). A digest cannot be reversed without the key.
- link_notices: which agency has been told that two reports are linked, so each is told once.

Rows carry the (report, version) whose routing wrote them ("trigger"), so a redelivered record recomputes the
same plan: what the same trigger wrote earlier does not count as "already done".
"""

import json
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Integer, String, Text, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Mapped, mapped_column

from shared.store.batching import Coalescer, ItemFailed, together_or_alone
from shared.store.engine import autocommit_sessions
from shared.store.models import Base, table_of
from shared.store.upsert import insert_ignore


class ReportVersionRecord(Base):
    __tablename__ = "report_versions"

    report_id: Mapped[str] = mapped_column(ForeignKey("reports.report_id"), primary_key=True)
    report_version: Mapped[int] = mapped_column(Integer, primary_key=True)
    content_sha256: Mapped[str] = mapped_column(String(64))
    field_digests: Mapped[str] = mapped_column(Text)  # JSON {field path: keyed digest}
    received_at: Mapped[datetime]
    routed_at: Mapped[datetime | None] = mapped_column(default=None)


class ReportHolderRecord(Base):
    __tablename__ = "report_holders"

    report_id: Mapped[str] = mapped_column(ForeignKey("reports.report_id"), primary_key=True)
    recipient_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    notification_id: Mapped[str] = mapped_column(String(40))
    first_version: Mapped[int] = mapped_column(Integer)


class ReportMatchKeyRecord(Base):
    __tablename__ = "report_match_keys"

    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # no FK: written before the report row
    match_key: Mapped[str] = mapped_column(String(64), primary_key=True, index=True)
    key_kind: Mapped[str] = mapped_column(String(16))  # child or suspect
    report_version: Mapped[int] = mapped_column(Integer)
    received_at: Mapped[datetime]


class LinkNoticeRecord(Base):
    __tablename__ = "link_notices"

    agency_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    report_id: Mapped[str] = mapped_column(String(64), primary_key=True)  # the pair, lower id first
    linked_report_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    trigger: Mapped[str] = mapped_column(String(80))  # "<report id>@v<version>" whose routing told it
    notification_id: Mapped[str] = mapped_column(String(40))


@dataclass(frozen=True)
class StoredVersion:
    report_version: int
    content_sha256: str
    field_digests: dict[str, str]
    received_at: datetime
    routed: bool


@dataclass(frozen=True)
class Holder:
    recipient_kind: str
    agency_id: str
    notification_id: str
    first_version: int


@dataclass(frozen=True)
class EarlierReport:
    """A report sharing a match key with the one being routed, and the agencies that hold it."""

    report_id: str
    received_at: datetime
    matched_on: tuple[str, ...]
    holders: tuple[Holder, ...]


def pair(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a <= b else (b, a)


async def write_versions(
    session: AsyncSession, versions: list[dict[str, Any]], holders: list[dict[str, Any]], notices: list[dict[str, Any]]
) -> None:
    """Within the caller's transaction: the router writes these with the reports and their notifications."""
    await insert_ignore(session, ReportVersionRecord, versions)
    await insert_ignore(session, ReportHolderRecord, holders)
    await insert_ignore(session, LinkNoticeRecord, notices)


async def set_versions_routed(session: AsyncSession, marks: list[tuple[str, int, datetime]]) -> None:
    """(report, version, routed at) for each version, within the caller's transaction."""
    await session.execute(_VERSION_ROUTED, [{"rid": rid, "v": version, "at_": at} for rid, version, at in marks])


_V = table_of(ReportVersionRecord).c
_VERSION_ROUTED = (
    update(table_of(ReportVersionRecord))
    .where(_V.report_id == bindparam("rid"), _V.report_version == bindparam("v"))
    .values(routed_at=bindparam("at_"))
)
_Hit = tuple[str, str, str, datetime]  # a match-key row: report id, match key, key kind, received at
_M = table_of(ReportMatchKeyRecord).c
_MATCH_HITS = select(_M.report_id, _M.match_key, _M.key_kind, _M.received_at).where(
    _M.match_key.in_(bindparam("keys", expanding=True))
)


class ReportHistory:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._key_writes: Coalescer[list[dict[str, Any]], None] = Coalescer(self._write_keys)
        self._key_searches: Coalescer[list[str], list[_Hit]] = Coalescer(self._search_keys)

    async def versions(self, report_id: str) -> list[StoredVersion]:
        async with autocommit_sessions(self._sessions)() as session:
            rows = (
                await session.scalars(
                    select(ReportVersionRecord)
                    .where(ReportVersionRecord.report_id == report_id)
                    .order_by(ReportVersionRecord.report_version)
                )
            ).all()
        return [
            StoredVersion(
                r.report_version, r.content_sha256, json.loads(r.field_digests), r.received_at, r.routed_at is not None
            )
            for r in rows
        ]

    async def holders(self, report_id: str) -> list[Holder]:
        async with autocommit_sessions(self._sessions)() as session:
            rows = (
                await session.scalars(select(ReportHolderRecord).where(ReportHolderRecord.report_id == report_id))
            ).all()
        return [Holder(r.recipient_kind, r.agency_id, r.notification_id, r.first_version) for r in rows]

    async def record_match_keys(
        self, report_id: str, version: int, received_at: datetime, keys: dict[str, str]
    ) -> None:
        """Committed before the search, so of two reports routed at once at least the later one finds the other.
        Keys recorded at the same moment share one transaction."""
        if not keys:
            return
        rows = [
            {
                "report_id": report_id,
                "match_key": k,
                "key_kind": kind,
                "report_version": version,
                "received_at": received_at,
            }
            for k, kind in keys.items()
        ]
        await self._key_writes.submit(rows)

    async def _write_keys(self, batch: list[list[dict[str, Any]]]) -> list[ItemFailed | None]:
        async def together(rows: list[list[dict[str, Any]]]) -> list[None]:
            ordered = sorted((row for r in rows for row in r), key=lambda row: (row["report_id"], row["match_key"]))
            async with self._sessions.begin() as session:
                await insert_ignore(session, ReportMatchKeyRecord, ordered)
            return [None] * len(rows)

        return await together_or_alone(batch, together)

    async def earlier_reports(self, report_id: str, keys: dict[str, str]) -> list[EarlierReport]:
        """Other reports sharing any of the keys, oldest first, with the agencies that hold them (maybe none yet).
        Searched together with every other search waiting at the same moment (one query for many)."""
        if not keys:
            return []
        matched: dict[str, set[str]] = defaultdict(set)
        received: dict[str, datetime] = {}
        for rid, _, kind, at in await self._key_searches.submit(list(keys)):
            if rid != report_id:
                matched[rid].add(kind)
                received[rid] = min(at, received.get(rid, at))
        if not matched:  # most reports match nothing: no second query
            return []
        async with autocommit_sessions(self._sessions)() as session:
            holder_rows = (
                await session.scalars(select(ReportHolderRecord).where(ReportHolderRecord.report_id.in_(list(matched))))
            ).all()
        holders: dict[str, list[Holder]] = defaultdict(list)
        for h in holder_rows:
            holders[h.report_id].append(Holder(h.recipient_kind, h.agency_id, h.notification_id, h.first_version))
        found = [
            EarlierReport(
                rid, received[rid], tuple(sorted(kinds)), tuple(sorted(holders[rid], key=lambda h: h.agency_id))
            )
            for rid, kinds in matched.items()
        ]
        return sorted(found, key=lambda e: (e.received_at, e.report_id))

    async def _search_keys(self, searches: list[list[str]]) -> list[list[_Hit]]:
        """Every row holding any searched key; each search then gets the rows of its own keys."""
        wanted = sorted({key for keys in searches for key in keys})
        by_key: dict[str, list[_Hit]] = defaultdict(list)
        async with autocommit_sessions(self._sessions)() as session:
            for rid, key, kind, at in (await session.execute(_MATCH_HITS, {"keys": wanted})).all():
                by_key[key].append((rid, key, kind, at))
        return [[row for key in keys for row in by_key.get(key, [])] for keys in searches]

    async def told(self, pairs: list[tuple[str, str]], trigger: str) -> set[tuple[str, str, str]]:
        """(agency, report, linked report) already told of a link by another trigger than this one."""
        if not pairs:
            return set()
        async with autocommit_sessions(self._sessions)() as session:
            rows = (
                await session.scalars(
                    select(LinkNoticeRecord)
                    .where(LinkNoticeRecord.report_id.in_([p[0] for p in pairs]))
                    .where(LinkNoticeRecord.trigger != trigger)
                )
            ).all()
        wanted = set(pairs)
        return {
            (r.agency_id, r.report_id, r.linked_report_id) for r in rows if (r.report_id, r.linked_report_id) in wanted
        }

    async def linked_reports(self, report_id: str) -> list[str]:
        """Report ids linked to this one (for ops' report page: the cluster)."""
        async with autocommit_sessions(self._sessions)() as session:
            mine = select(ReportMatchKeyRecord.match_key).where(ReportMatchKeyRecord.report_id == report_id)
            rows = await session.scalars(
                select(ReportMatchKeyRecord.report_id)
                .where(ReportMatchKeyRecord.match_key.in_(mine))
                .where(ReportMatchKeyRecord.report_id != report_id)
                .distinct()
            )
            return sorted(rows.all())
