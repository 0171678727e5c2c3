"""Route one report record: record what it leads to, publish it all, then let the offset move.

A function of one record (the lead may run records of different keys concurrently): everything it decides
follows from the record and the durable state, and every id is deterministic, so a redelivered record
repeats the same writes (ignored) and the same messages (deduplicated by the notifier).

- A new report: a first notification to each recipient, carrying `linked_reports` (earlier reports about
  the same child or alleged trafficker, matched by keyed digest) where the policy allows; each agency that
  holds a linked report and is not a recipient gets one link notice. Each agency is told of a link once.
- The same version again: a duplicate (ignored) or, with other content, a conflicting duplicate (dead letter).
- A higher version (amendment): each earlier recipient gets one update with the changed fields it may see;
  a recipient the new version implies (e.g. a new occurrence town's police) gets a first notification.
  Clocks and acknowledgement links follow the original report.
- A lower version than one already routed: stale, ignored and counted.
"""

import asyncio
import json
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Protocol

import structlog
from aiokafka import ConsumerRecord
from faststream.kafka import KafkaBroker

from services.router.decision import RoutingDecision, route_report
from services.router.identity import changed_fields, field_digests, match_keys
from services.router.metrics import NOTIFICATIONS_PUBLISHED, REPORTS_ROUTED
from services.router.outputs import (
    Addressee,
    build_notifications,
    decision_event,
    link_notification,
    update_notification,
    update_payload,
)
from shared.consuming import PoisonMessage, parse_event
from shared.directory.directory import Directory
from shared.envelope import EnvelopeError, Keyring, open_record
from shared.events import (
    CarelineReport,
    LinkedReport,
    Notification,
    RecipientKind,
    ReportReceived,
    RoutingDecisionRecorded,
)
from shared.policy.model import LINKED_REPORTS, Policy
from shared.publishing import publish_event, publish_notification
from shared.states import NotificationState
from shared.store.models import NotificationRecord
from shared.store.report_history import EarlierReport, Holder, StoredVersion, pair
from shared.store.repository import ExistingReport, RoutingRows
from shared.topics import ROUTING_DECISIONS

log = structlog.get_logger(__name__)


class RouterStore(Protocol):
    async def existing_report(self, report_id: str) -> ExistingReport | None: ...
    async def record_routing(self, rows: RoutingRows) -> None: ...
    async def mark_routed(self, report_id: str, version: int, at: datetime) -> None: ...
    async def count_duplicate(self, report_id: str) -> None: ...
    async def notification(self, notification_id: str) -> NotificationRecord | None: ...


class HistoryStore(Protocol):
    async def versions(self, report_id: str) -> list[StoredVersion]: ...
    async def holders(self, report_id: str) -> list[Holder]: ...
    async def record_match_keys(
        self, report_id: str, version: int, received_at: datetime, keys: dict[str, str]
    ) -> None: ...
    async def earlier_reports(self, report_id: str, keys: dict[str, str]) -> list[EarlierReport]: ...
    async def told(self, pairs: list[tuple[str, str]], trigger: str) -> set[tuple[str, str, str]]: ...


class Publisher(Protocol):
    async def notification(self, notification: Notification) -> None: ...
    async def decision(self, event: RoutingDecisionRecorded) -> None: ...


class KafkaPublisher:
    """Notifications to their kind's topic, the audit record to routing.decisions.v1 (acks=all)."""

    def __init__(self, broker: KafkaBroker) -> None:
        self._broker = broker

    async def notification(self, notification: Notification) -> None:
        await publish_notification(self._broker, notification)

    async def decision(self, event: RoutingDecisionRecorded) -> None:
        await publish_event(self._broker, event, ROUTING_DECISIONS, event.report_id)


class ReportRouter:
    keyring: Keyring | None = None  # set by the app from ENVELOPE_KEYS; None: records travel unsealed (local/test)

    def __init__(
        self,
        publisher: Publisher,
        store: RouterStore,
        history: HistoryStore,
        directory: Directory,
        policy: Policy,
        link_key: bytes,
    ) -> None:
        self._publisher = publisher
        self._store = store
        self._history = history
        self._directory = directory
        self._policy = policy
        self._key = link_key

    async def __call__(self, record: ConsumerRecord[bytes, bytes]) -> None:
        """Reports travel sealed (shared/envelope.py): opened here, where the fields are needed, and nowhere else."""
        try:
            body = open_record(record.value or b"", record.headers, self.keyring)
        except EnvelopeError as exc:
            raise PoisonMessage("sealed_record_unreadable", type(exc).__name__) from exc
        await self.route(parse_event(ReportReceived, body))

    async def route(self, event: ReportReceived) -> None:
        report = event.report
        report_id, version = report.careline_report_id, report.report_version
        existing = await self._store.existing_report(report_id)
        seen = {v.report_version: v for v in await self._history.versions(report_id)} if existing else {}
        if existing and existing.routed and not seen:  # routed before report history existed: version 1
            seen = {1: StoredVersion(1, existing.content_sha256, {}, report.received_at, True)}
        if (same := seen.get(version)) and same.routed:
            if same.content_sha256 != event.content_sha256:
                raise PoisonMessage(
                    "conflicting_duplicate", f"report {report_id} v{version} was already routed with different content"
                )
            return await self._duplicate(report_id, "duplicate")
        routed = [v for v in seen.values() if v.routed]
        latest = max(routed, key=lambda v: v.report_version) if routed else None
        if latest and version < latest.report_version:
            return await self._duplicate(report_id, "stale_version")

        now = datetime.now(UTC)
        keys = match_keys(report, self._key)
        await self._history.record_match_keys(report_id, version, report.received_at, keys)
        earlier = await self._history.earlier_reports(report_id, keys)
        trigger = f"{report_id}@v{version}"
        told = await self._history.told([pair(report_id, e.report_id) for e in earlier], trigger)
        decision = route_report(report, self._policy, self._directory)
        digests = field_digests(report, self._key)
        if latest is None:
            plan = await self._first(report, decision, earlier, told, now)
        else:
            original = min(seen.values(), key=lambda v: v.report_version)
            holders = [h for h in await self._history.holders(report_id) if h.first_version < version]
            changed = changed_fields(latest.field_digests, digests) if latest.field_digests else set(digests)
            plan = await self._amendment(report, decision, original, holders, changed, earlier, told, now)
        version_row = {
            "report_id": report_id,
            "report_version": version,
            "content_sha256": event.content_sha256,
            "field_digests": json.dumps(digests, sort_keys=True),
            "received_at": report.received_at,
        }
        await self._store.record_routing(
            RoutingRows(
                report=_report_row(event, now, len(plan.notifications), self._policy.version),
                notifications=[_notification_row(n) for n in plan.notifications],
                version=version_row,
                holders=plan.holders,
                notices=[n | {"trigger": trigger} for n in plan.notices],
            )
        )
        await asyncio.gather(
            *(self._publish(n) for n in plan.notifications),
            self._publisher.decision(decision_event(plan.decision, self._policy, now)),
        )
        await self._store.mark_routed(report_id, version, datetime.now(UTC))
        outcome = "routed" if latest is None else "amended"
        REPORTS_ROUTED.labels(outcome).inc()
        log.info(
            f"report_{outcome}",
            report_id=report_id,
            report_version=version,
            notifications=len(plan.notifications),
            linked_reports=len(earlier),
            policy_version=decision.policy_version,
            fallbacks=len(decision.fallbacks),
        )

    async def _first(
        self,
        report: CarelineReport,
        decision: RoutingDecision,
        earlier: list[EarlierReport],
        told: set[tuple[str, str, str]],
        now: datetime,
    ) -> "_Plan":
        firsts = build_notifications(report, decision, self._policy, now, linked=[_linked(e) for e in earlier])
        notices, link_notices = await self._tell_links(report, firsts, set(), earlier, told, now)
        return _Plan(firsts + link_notices, decision, [_holder_row(report, n) for n in firsts], notices)

    async def _amendment(
        self,
        report: CarelineReport,
        decision: RoutingDecision,
        original: StoredVersion,
        holders: list[Holder],
        changed: set[str],
        earlier: list[EarlierReport],
        told: set[tuple[str, str, str]],
        now: datetime,
    ) -> "_Plan":
        """Updates to earlier holders, first notifications to new recipients, all on the original report's clock."""
        report_id = report.careline_report_id
        held = {(h.recipient_kind, h.agency_id) for h in holders}
        new = tuple(r for r in decision.recipients if (r.kind.value, r.agency.agency_id) not in held)
        new_decision = replace(decision, received_at=original.received_at, recipients=new)
        linked = [_linked(e) for e in earlier]
        firsts = build_notifications(report, new_decision, self._policy, now, linked=linked)
        updates: list[Notification] = []
        notices: list[dict[str, object]] = []
        for h in holders:
            if (to := await self._addressee(h)) is None:
                continue
            untold = [link for link in linked if (h.agency_id, *pair(report_id, link.report_id)) not in told]
            payload = update_payload(report, self._policy.recipient_kinds[to.kind], changed, untold)
            if payload is None:  # nothing this agency may see has changed
                continue
            what = ", ".join(payload["changed_fields"]) or "linked reports"
            update = update_notification(
                report, to, payload, f"corrected report v{report.report_version}: {what}", self._policy, now
            )
            updates.append(update)
            if LINKED_REPORTS in payload:
                notices += [_notice(h.agency_id, report_id, link.report_id, update) for link in untold]
        holding = {h.agency_id for h in holders}
        link_rows, link_notices = await self._tell_links(
            report, firsts, holding, earlier, told | _as_told(notices), now
        )
        holder_rows = [_holder_row(report, n) for n in firsts]
        return _Plan(firsts + updates + link_notices, new_decision, holder_rows, notices + link_rows)

    async def _tell_links(
        self,
        report: CarelineReport,
        firsts: list[Notification],
        also_holding: set[str],
        earlier: list[EarlierReport],
        told: set[tuple[str, str, str]],
        now: datetime,
    ) -> tuple[list[dict[str, object]], list[Notification]]:
        """This report's first notifications tell their agencies of each earlier report; an agency that holds an
        earlier report but not this one gets one link notice about it. Nobody is told of the same pair twice."""
        report_id = report.careline_report_id
        receiving = {n.agency_id for n in firsts} | also_holding
        notices: list[dict[str, object]] = []
        sent: list[Notification] = []
        for e in earlier:
            key = pair(report_id, e.report_id)
            notices += [
                _notice(n.agency_id, report_id, e.report_id, n) for n in firsts if (n.agency_id, *key) not in told
            ]
            this = LinkedReport(
                report_id=report_id,
                received_at=report.received_at,
                matched_on=list(e.matched_on),
                agencies=sorted(receiving),
            )
            for h in e.holders:
                if h.agency_id in receiving or (h.agency_id, *key) in told or (to := await self._addressee(h)) is None:
                    continue
                if (link := link_notification(e.report_id, to, [this], self._policy, now)) is not None:
                    sent.append(link)
                    notices.append(_notice(h.agency_id, report_id, e.report_id, link))
                    told = told | {(h.agency_id, *key)}
        return notices, sent

    async def _addressee(self, holder: Holder) -> Addressee | None:
        """Follow-ups go on the first notification's clock and acknowledgement link."""
        row = await self._store.notification(holder.notification_id)
        if row is None:
            return None
        kind = RecipientKind(holder.recipient_kind)
        return Addressee(kind, holder.agency_id, row.agency_name, holder.notification_id, row.deadline_at)

    async def _duplicate(self, report_id: str, why: str) -> None:
        await self._store.count_duplicate(report_id)
        REPORTS_ROUTED.labels(why).inc()
        log.info(f"{why}_report_ignored", report_id=report_id)

    async def _publish(self, notification: Notification) -> None:
        await self._publisher.notification(notification)
        NOTIFICATIONS_PUBLISHED.labels(notification.recipient_kind.value, str(notification.fallback).lower()).inc()


@dataclass(frozen=True)
class _Plan:
    notifications: list[Notification]
    decision: RoutingDecision  # the recipients whose clocks start now (first notifications only)
    holders: list[dict[str, object]]
    notices: list[dict[str, object]]


def _linked(e: EarlierReport) -> LinkedReport:
    agencies = sorted({h.agency_id for h in e.holders})
    return LinkedReport(
        report_id=e.report_id, received_at=e.received_at, matched_on=list(e.matched_on), agencies=agencies
    )


def _notice(agency_id: str, report_id: str, other: str, n: Notification) -> dict[str, object]:
    low, high = pair(report_id, other)
    return {"agency_id": agency_id, "report_id": low, "linked_report_id": high, "notification_id": n.notification_id}


def _as_told(notices: list[dict[str, object]]) -> set[tuple[str, str, str]]:
    return {(str(n["agency_id"]), str(n["report_id"]), str(n["linked_report_id"])) for n in notices}


def _holder_row(report: CarelineReport, n: Notification) -> dict[str, object]:
    return {
        "report_id": report.careline_report_id,
        "recipient_kind": n.recipient_kind.value,
        "agency_id": n.agency_id,
        "notification_id": n.notification_id,
        "first_version": report.report_version,
    }


def _report_row(event: ReportReceived, now: datetime, count: int, policy_version: str) -> dict[str, object]:
    return {
        "report_id": event.report.careline_report_id,
        "received_at": event.report.received_at,
        "accepted_at": event.accepted_at,
        "content_sha256": event.content_sha256,
        "classification": event.report.classification.value,
        "policy_version": policy_version,
        "notification_count": count,
        "first_routed_at": now,
        "duplicates_received": 0,
    }


def _notification_row(n: Notification) -> dict[str, object]:
    return {
        "notification_id": n.notification_id,
        "report_id": n.report_id,
        "recipient_kind": n.recipient_kind.value,
        "agency_id": n.agency_id,
        "agency_name": n.agency_name,
        "reason": n.reason,
        "fallback": n.fallback,
        "state": NotificationState.PENDING,
        "created_at": n.created_at,
        "deadline_at": n.deadline_at,
        "attempts": 0,
    }
