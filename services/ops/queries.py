"""Read-only queries behind the dashboard. They select ids, agency names, states and times only:
the database holds nothing else, and these never touch free-text fields an agency may have written."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy import and_, case, exists, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from shared.states import DELIVERED_STATES, NotificationState
from shared.store.models import (
    AuditEventRecord,
    EndpointStatusRecord,
    NotificationRecord,
    ReportRecord,
)
from shared.store.report_history import ReportHistory
from shared.store.timeline import TimelineStep, timeline

STATES = tuple(NotificationState)
OPEN_STATES = tuple(s for s in NotificationState if s != NotificationState.ACKNOWLEDGED)
ListView = Literal["clocks", "dead_letters"]
Due = Literal["any", "missed", "at_risk", "later"]
N = NotificationRecord
SERVICE_ACTORS = frozenset({"intake", "router", "notifier", "acks", "escalator", "ops"})


def percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None when there is nothing to measure."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(math.ceil(q * len(ordered)) - 1, 0)
    return ordered[min(rank, len(ordered) - 1)]


@dataclass(frozen=True)
class ListFilter:
    """What a person narrowed a work list to. Empty fields match everything."""

    kind: str | None = None
    agency_id: str | None = None
    state: NotificationState | None = None
    due: Due = "any"  # missed: past the deadline; at_risk: due within the at-risk window; later: beyond it
    search: str | None = None  # part of a report id, an agency id or an agency name, any case


def _conditions(view: ListView, match: ListFilter, now: datetime, at_risk_seconds: float) -> list[Any]:
    soon = now + timedelta(seconds=at_risk_seconds)
    where: list[Any] = [N.state.in_(OPEN_STATES) if view == "clocks" else N.state == NotificationState.DEAD_LETTERED]
    if match.kind:
        where.append(N.recipient_kind == match.kind)
    if match.agency_id:
        where.append(N.agency_id == match.agency_id)
    if match.state:
        where.append(N.state == match.state)
    if match.due == "missed":
        where.append(N.deadline_at < now)
    elif match.due == "at_risk":
        where.append(and_(N.deadline_at >= now, N.deadline_at <= soon))
    elif match.due == "later":
        where.append(N.deadline_at > soon)
    if match.search:
        text = match.search.strip().lower()
        columns = (N.report_id, N.agency_id, N.agency_name)
        where.append(or_(*(func.lower(column).contains(text, autoescape=True) for column in columns)))
    return where


def _none_outside(states: tuple[str, ...]) -> Any:
    """SQL condition: the report has no notification in a state outside ``states``."""
    return ~exists().where(and_(N.report_id == ReportRecord.report_id, N.state.not_in(states)))


def _actor(actor: str) -> str | None:
    """Ops users and services by name; an agency's own staff member (who acknowledged) is not shown."""
    return f"by {actor}" if actor.startswith("ops:") or actor in SERVICE_ACTORS else None


def ops_step(step: TimelineStep) -> dict[str, Any]:
    """A timeline step as ops may see it: who acted only when it was a service or an ops user, and no
    routing reason (it names the child's town); the deadline stays."""
    detail = step.detail
    if step.event == "notification_created" and detail:
        detail = "; ".join(part for part in detail.split("; ") if part.startswith(("deadline ", "fallback")))
    return {
        "at": step.at.isoformat(),
        "event": step.event,
        "actor": _actor(step.actor),
        "recipient_kind": step.recipient_kind,
        "agency_id": step.agency_id,
        "notification_id": step.notification_id,
        "detail": detail or None,
    }


def _who(n: NotificationRecord) -> dict[str, Any]:
    """Which notification, for which report, to whom: the ids and names every ops list starts with."""
    return {
        "notification_id": n.notification_id,
        "report_id": n.report_id,
        "recipient_kind": n.recipient_kind,
        "agency_id": n.agency_id,
        "agency_name": n.agency_name,
    }


def _add_percentiles(rows: dict[Any, dict[str, Any]], timings: list[Any], key: Callable[[Any], Any]) -> None:
    """Adds deliver/ack p50 and p95 (seconds from routing) to each row, from (kind, agency, created,
    delivered, acknowledged) tuples grouped by ``key``."""
    deliver: dict[Any, list[float]] = {}
    ack: dict[Any, list[float]] = {}
    for t in timings:
        _, _, created, delivered, acked = t
        deliver.setdefault(key(t), []).append((delivered - created).total_seconds())
        if acked:
            ack.setdefault(key(t), []).append((acked - created).total_seconds())
    for k, row in rows.items():
        row["deliver_p50_seconds"] = percentile(deliver.get(k, []), 0.5)
        row["deliver_p95_seconds"] = percentile(deliver.get(k, []), 0.95)
        row["ack_p50_seconds"] = percentile(ack.get(k, []), 0.5)
        row["ack_p95_seconds"] = percentile(ack.get(k, []), 0.95)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class OpsQueries:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def report_counts(self) -> dict[str, int]:
        """Reports by how far they got: every one of its notifications delivered, acknowledged, ..."""
        async with self._sessions() as session:
            routed = ReportRecord.routed_at.is_not(None)

            async def count(*where: Any) -> int:
                return int(await session.scalar(select(func.count()).select_from(ReportRecord).where(*where)) or 0)

            dead = await session.scalar(
                select(func.count(func.distinct(N.report_id))).where(N.state == NotificationState.DEAD_LETTERED)
            )
            escalated = await session.scalar(
                select(func.count(func.distinct(AuditEventRecord.report_id))).where(
                    AuditEventRecord.event.like("escalat%")
                )
            )
            return {
                "received": await count(),
                "routed": await count(routed),
                "delivered": await count(routed, _none_outside(DELIVERED_STATES)),
                "acknowledged": await count(routed, _none_outside((NotificationState.ACKNOWLEDGED,))),
                "escalated": int(escalated or 0),
                "dead_lettered": int(dead or 0),
            }

    async def _timings(self, session: AsyncSession, kind: str | None) -> list[Any]:
        """The latest 5,000 delivered notifications' times: enough for stable percentiles, bounded in cost."""
        query = (
            select(N.recipient_kind, N.agency_id, N.created_at, N.delivered_at, N.acknowledged_at)
            .where(N.delivered_at.is_not(None))
            .order_by(N.created_at.desc())
            .limit(5000)
        )
        if kind:
            query = query.where(N.recipient_kind == kind)
        return list((await session.execute(query)).all())

    async def by_recipient(self, kind: str | None = None) -> list[dict[str, Any]]:
        """Per recipient kind and agency (of one kind, or all): counts by state, time to deliver and to
        acknowledge (p50, p95)."""
        query = select(N.recipient_kind, N.agency_id, N.agency_name, N.state, func.count()).group_by(
            N.recipient_kind, N.agency_id, N.agency_name, N.state
        )
        if kind:
            query = query.where(N.recipient_kind == kind)
        async with self._sessions() as session:
            counts = (await session.execute(query)).all()
            timings = await self._timings(session, kind)
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        for kind_, agency, name, state, n in counts:
            row = rows.setdefault(
                (kind_, agency),
                {"recipient_kind": kind_, "agency_id": agency, "agency_name": name, **dict.fromkeys(STATES, 0)},
            )
            row[state] = int(n)
        _add_percentiles(rows, timings, lambda t: (t[0], t[1]))
        return [rows[k] for k in sorted(rows)]

    async def by_kind(self) -> list[dict[str, Any]]:
        """One row per recipient kind: how many agencies, counts by state, p50/p95 (the collapsed table)."""
        async with self._sessions() as session:
            counts = (
                await session.execute(
                    select(N.recipient_kind, N.state, func.count()).group_by(N.recipient_kind, N.state)
                )
            ).all()
            agencies = dict(
                (
                    await session.execute(
                        select(N.recipient_kind, func.count(func.distinct(N.agency_id))).group_by(N.recipient_kind)
                    )
                ).all()
            )
            timings = await self._timings(session, None)
        rows: dict[str, dict[str, Any]] = {}
        for kind, state, n in counts:
            row = rows.setdefault(
                kind, {"recipient_kind": kind, "agencies": int(agencies.get(kind, 0)), **dict.fromkeys(STATES, 0)}
            )
            row[state] = int(n)
        _add_percentiles(rows, timings, lambda t: t[0])
        return [rows[k] for k in sorted(rows)]

    async def clock_counts(self, at_risk_seconds: float) -> dict[str, dict[str, int]]:
        """Per recipient kind: unacknowledged notifications past their deadline, and those due within
        ``at_risk_seconds``. Counted in SQL, so a busy hour is counted in full, not up to a list's length."""
        now = datetime.now(UTC)
        soon = now + timedelta(seconds=at_risk_seconds)
        missed = case((N.deadline_at < now, 1), else_=0)
        at_risk = case((and_(N.deadline_at >= now, N.deadline_at <= soon), 1), else_=0)
        async with self._sessions() as session:
            rows = await session.execute(
                select(N.recipient_kind, func.sum(missed), func.sum(at_risk))
                .where(N.state.in_(OPEN_STATES))
                .group_by(N.recipient_kind)
            )
            return {kind: {"missed": int(m or 0), "at_risk": int(r or 0)} for kind, m, r in rows.all()}

    async def notifications(
        self, view: ListView, match: ListFilter, at_risk_seconds: float, *, limit: int, offset: int
    ) -> dict[str, Any]:
        """One page of a work list and the number of rows the filter matches. Clocks: unacknowledged, soonest
        deadline first. Dead letters: newest first."""
        now = datetime.now(UTC)
        where = _conditions(view, match, now, at_risk_seconds)
        order = (N.deadline_at, N.notification_id) if view == "clocks" else (N.created_at.desc(), N.notification_id)
        async with self._sessions() as session:
            total = await session.scalar(select(func.count()).select_from(N).where(*where))
            rows = await session.scalars(select(N).where(*where).order_by(*order).limit(limit).offset(offset))
            items = [
                {
                    **_who(r),
                    "state": r.state,
                    "attempts": r.attempts,
                    "reason": r.last_error if r.state == NotificationState.DEAD_LETTERED else None,
                    "deadline_at": _iso(r.deadline_at),
                    "clock_hours": round((r.deadline_at - r.created_at).total_seconds() / 3600, 1),
                    "seconds_left": round((r.deadline_at - now).total_seconds()),
                    "at_risk": 0 <= (r.deadline_at - now).total_seconds() <= at_risk_seconds,
                }
                for r in rows
            ]
        return {"total": int(total or 0), "limit": limit, "offset": offset, "items": items}

    async def dead_letter_count(self) -> int:
        async with self._sessions() as session:
            found = await session.scalar(
                select(func.count()).select_from(N).where(N.state == NotificationState.DEAD_LETTERED)
            )
            return int(found or 0)

    async def disabled_endpoints(self) -> list[dict[str, Any]]:
        async with self._sessions() as session:
            rows = await session.scalars(select(EndpointStatusRecord).where(EndpointStatusRecord.disabled))
            return [
                {"agency_id": r.agency_id, "reason": r.reason, "changed_at": _iso(r.changed_at), "by": r.changed_by}
                for r in rows
            ]

    async def report(self, report_id: str) -> dict[str, Any] | None:
        """One report: each recipient's state, the audit timeline intake serves, cut to what ops may see, and the
        ids of the reports the router linked it to (same child or suspect: ids only, never why)."""
        steps = await timeline(self._sessions, report_id)
        if steps is None:
            return None
        async with self._sessions() as session:
            report = await session.get(ReportRecord, report_id)
            notifications = list(await session.scalars(select(N).where(N.report_id == report_id)))
        if report is None:  # purged between the two reads
            return None
        return {
            "report_id": report.report_id,
            "received_at": _iso(report.received_at),
            "routed_at": _iso(report.routed_at),
            "policy_version": report.policy_version,
            "recipients": [
                {
                    "notification_id": n.notification_id,
                    "recipient_kind": n.recipient_kind,
                    "agency_id": n.agency_id,
                    "agency_name": n.agency_name,
                    "state": n.state,
                    "attempts": n.attempts,
                    "deadline_at": _iso(n.deadline_at),
                    "delivered_at": _iso(n.delivered_at),
                    "acknowledged_at": _iso(n.acknowledged_at),
                }
                for n in sorted(notifications, key=lambda n: (n.recipient_kind, n.agency_id))
            ],
            "timeline": [ops_step(step) for step in steps],
            "linked_reports": await ReportHistory(self._sessions).linked_reports(report_id),
        }
