"""What a decision produces: one Notification per recipient, and the audit event for routing.decisions.v1."""

from datetime import datetime

from services.router.decision import RoutingDecision
from services.router.payloads import fields_sent, payload_for
from shared.acklinks import AckLinkSettings, link_for
from shared.events import CarelineReport, DecidedRecipient, FallbackUsed, Notification, RoutingDecisionRecorded
from shared.events.notification import notification_id_for
from shared.policy.model import Policy


def build_notifications(
    report: CarelineReport,
    decision: RoutingDecision,
    policy: Policy,
    now: datetime,
    links: AckLinkSettings | None = None,
) -> list[Notification]:
    """Each carries a one-click acknowledgement link that expires at the recipient's deadline."""
    links = links or AckLinkSettings()
    return [
        Notification(
            notification_id=(nid := notification_id_for(report.careline_report_id, r.kind, r.agency.agency_id)),
            report_id=report.careline_report_id,
            recipient_kind=r.kind,
            agency_id=r.agency.agency_id,
            agency_name=r.agency.name,
            reason=r.full_reason,
            fallback=r.fallback_name is not None,
            deadline_at=report.received_at + r.deadline,
            policy_version=decision.policy_version,
            created_at=now,
            payload=payload_for(report, policy.recipient_kinds[r.kind]),
            ack_url=link_for(links, nid, r.agency.agency_id, report.received_at + r.deadline),
        )
        for r in decision.recipients
    ]


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
