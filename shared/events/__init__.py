"""Event schemas, defined once and versioned: every service imports them from here."""

from shared.events.acknowledgement import AcknowledgementRecorded, AckRequest
from shared.events.careline import (
    AllegedTrafficker,
    CarelineReport,
    Child,
    Classification,
    Reporter,
)
from shared.events.deadletter import DeadLetter
from shared.events.escalation import EscalationAction, EscalationRecorded
from shared.events.notification import LinkedReport, MessageType, Notification, RecipientKind
from shared.events.report_received import ReportReceived
from shared.events.routing_decision import DecidedRecipient, FallbackUsed, RoutingDecisionRecorded

__all__ = [
    "AckRequest",
    "AcknowledgementRecorded",
    "AllegedTrafficker",
    "CarelineReport",
    "Child",
    "Classification",
    "DeadLetter",
    "DecidedRecipient",
    "EscalationAction",
    "EscalationRecorded",
    "FallbackUsed",
    "LinkedReport",
    "MessageType",
    "Notification",
    "RecipientKind",
    "ReportReceived",
    "Reporter",
    "RoutingDecisionRecorded",
]
