"""What a decision produces: one Notification per recipient, and the audit event for routing.decisions.v1.

Three kinds of message (MessageType): a report's first notification to an agency (all allowed fields), an update
after a correction (only the changed fields the agency may see), and a link notice (a later report concerns the
same child or alleged trafficker). Every message is limited to the agency kind's allow-list, and every
acknowledgement link points at the agency's first notification of the report, whose clock it follows.
"""

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from services.router.decision import RoutingDecision
from services.router.payloads import fields_sent, payload_for
from shared.acklinks import AckLinkSettings, current_link_settings, link_for
from shared.events import (
    CarelineReport,
    DecidedRecipient,
    FallbackUsed,
    LinkedReport,
    MessageType,
    Notification,
    RecipientKind,
    RoutingDecisionRecorded,
)
from shared.events.notification import notification_id_for
from shared.policy.model import LINKED_REPORTS, NEVER_SENT, KindPolicy, Policy


@dataclass(frozen=True)
class Addressee:
    """An agency that already holds a report: where an update or link notice goes, on the first one's clock."""

    kind: RecipientKind
    agency_id: str
    agency_name: str
    first_notification_id: str
    deadline_at: datetime


def _links_allowed(kind_policy: KindPolicy, links: list[LinkedReport]) -> dict[str, Any]:
    if LINKED_REPORTS in kind_policy.fields and links:
        return {LINKED_REPORTS: [link.model_dump(mode="json") for link in links]}
    return {}


def build_notifications(
    report: CarelineReport,
    decision: RoutingDecision,
    policy: Policy,
    now: datetime,
    links: AckLinkSettings | None = None,
    linked: list[LinkedReport] | None = None,
) -> list[Notification]:
    """First notifications; each carries a one-click acknowledgement link that expires at the recipient's deadline."""
    links = links or current_link_settings()
    return [
        Notification(
            notification_id=(nid := notification_id_for(report.careline_report_id, r.kind, r.agency.agency_id)),
            report_id=report.careline_report_id,
            report_version=report.report_version,
            message_type=MessageType.REPORT,
            recipient_kind=r.kind,
            agency_id=r.agency.agency_id,
            agency_name=r.agency.name,
            reason=r.full_reason,
            fallback=r.fallback_name is not None,
            deadline_at=(deadline := decision.received_at + r.deadline),
            policy_version=decision.policy_version,
            created_at=now,
            payload=payload_for(report, policy.recipient_kinds[r.kind])
            | _links_allowed(policy.recipient_kinds[r.kind], linked or []),
            ack_url=link_for(links, nid, r.agency.agency_id, deadline),
        )
        for r in decision.recipients
    ]


def update_payload(
    report: CarelineReport, kind_policy: KindPolicy, changed: set[str], linked: list[LinkedReport]
) -> dict[str, Any] | None:
    """Only the changed fields this kind may see (and links it has not been told of); None when there are none."""
    visible = [f for f in fields_sent(kind_policy) if f in changed and f not in NEVER_SENT]
    news = _links_allowed(kind_policy, linked)
    if not visible and not news:
        return None
    data = report.model_dump(mode="json")
    payload: dict[str, Any] = {"careline_report_id": report.careline_report_id, "changed_fields": visible}
    payload |= {f: data[f] for f in visible if not f.startswith("child.") and f in data}
    if child := {
        f.removeprefix("child."): data["child"][f.removeprefix("child.")] for f in visible if f.startswith("child.")
    }:
        payload["child"] = child
    return payload | news


def update_notification(
    report: CarelineReport, to: Addressee, payload: dict[str, Any], reason: str, policy: Policy, now: datetime
) -> Notification:
    return _follow_up(
        report.careline_report_id,
        report.report_version,
        MessageType.UPDATE,
        f"v{report.report_version}",
        to,
        payload,
        reason,
        policy,
        now,
    )


def link_notification(
    report_id: str, to: Addressee, linked: list[LinkedReport], policy: Policy, now: datetime
) -> Notification | None:
    """A link notice about a report the agency holds; None when its kind may not receive linked reports."""
    extra = _links_allowed(policy.recipient_kinds[to.kind], linked)
    if not extra:
        return None
    others = ",".join(link.report_id for link in linked)
    reason = f"linked report(s) {others}: same child or alleged trafficker (deconfliction)"
    payload = {"careline_report_id": report_id} | extra
    return _follow_up(report_id, None, MessageType.LINK, f"link:{others}", to, payload, reason, policy, now)


def _follow_up(
    report_id: str,
    version: int | None,
    message_type: MessageType,
    message: str,
    to: Addressee,
    payload: dict[str, Any],
    reason: str,
    policy: Policy,
    now: datetime,
    links: AckLinkSettings | None = None,
) -> Notification:
    links = links or current_link_settings()
    return Notification(
        notification_id=notification_id_for(report_id, to.kind, to.agency_id, message),
        report_id=report_id,
        report_version=version or 1,
        message_type=message_type,
        recipient_kind=to.kind,
        agency_id=to.agency_id,
        agency_name=to.agency_name,
        reason=reason[:300],
        deadline_at=to.deadline_at,
        policy_version=policy.version,
        created_at=now,
        payload=payload,
        ack_url=link_for(links, to.first_notification_id, to.agency_id, to.deadline_at),
    )


def decision_event(decision: RoutingDecision, policy: Policy, now: datetime) -> RoutingDecisionRecorded:
    """Ids, rules and the policy's own reasons only: no names, no towns, no narrative."""
    recipients = [
        DecidedRecipient(
            notification_id=notification_id_for(decision.report_id, r.kind, r.agency.agency_id),
            recipient_kind=r.kind,
            agency_id=r.agency.agency_id,
            rule=r.rule,
            reason=r.reason,
            basis=r.basis,
            fallback=r.fallback_name is not None,
            deadline_at=decision.received_at + r.deadline,
            ack_sla_minutes=policy.recipient_kinds[r.kind].ack_sla_minutes,
            fields=fields_sent(policy.recipient_kinds[r.kind]),
        )
        for r in decision.recipients
    ]
    fallbacks = [
        FallbackUsed(rule=r.rule, recipient_kind=r.kind, fallback_name=r.fallback_name, agency_id=r.agency.agency_id)
        for r in decision.recipients
        if r.fallback_name is not None
    ]
    return RoutingDecisionRecorded(
        report_id=decision.report_id,
        policy_version=decision.policy_version,
        received_at=decision.received_at,
        decided_at=now,
        matched_rules=list(decision.matched_rules),
        recipients=recipients,
        fallbacks=fallbacks,
    )
