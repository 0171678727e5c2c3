"""The routing decision as a pure function: report + policy + directory -> recipients, reasons, deadlines."""

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from services.router.matching import matching_routes
from services.router.resolve import resolve
from shared.directory.agencies import STATEWIDE_AGENCIES, Agency
from shared.directory.directory import Directory
from shared.events import CarelineReport, RecipientKind
from shared.policy.model import Policy


@dataclass(frozen=True)
class RoutedRecipient:
    kind: RecipientKind
    agency: Agency
    rule: str
    reason: str  # the policy's text: safe for the audit record
    detail: str  # which town or which fallback: for the notification and ops
    basis: str
    deadline: timedelta
    fallback_name: str | None = None  # which fallback of the policy chose this agency; None when direct
    inferred: bool = False  # the directory inferred the agency from the judicial district (no direct source)

    @property
    def key(self) -> tuple[RecipientKind, str]:
        return self.kind, self.agency.agency_id

    @property
    def full_reason(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


@dataclass(frozen=True)
class RoutingDecision:
    report_id: str
    received_at: datetime
    policy_version: str
    matched_rules: tuple[str, ...]
    recipients: tuple[RoutedRecipient, ...]

    @property
    def fallbacks(self) -> list[RoutedRecipient]:
        return [r for r in self.recipients if r.fallback_name]


def route_report(report: CarelineReport, policy: Policy, directory: Directory) -> RoutingDecision:
    routes = matching_routes(policy.route, report)
    default_used = routes == [policy.route]
    found: list[RoutedRecipient] = []
    for route in routes:
        for spec in route.recipients:
            clock = timedelta(hours=policy.clocks[spec.clock].hours)
            for r in resolve(spec, report, directory, policy.fallbacks):
                fallback = r.fallback_name or ("default_route" if default_used else None)
                found.append(
                    RoutedRecipient(
                        spec.kind, r.agency, route.name, spec.reason, r.detail, r.basis, clock, fallback, r.inferred
                    )
                )
    if not found:
        found.append(_unrouted(policy))
    return RoutingDecision(
        report.careline_report_id,
        report.received_at,
        policy.version,
        tuple(r.name for r in routes),
        tuple(_deduplicated(found)),
    )


def _unrouted(policy: Policy) -> RoutedRecipient:
    """A report never ends unrouted: the policy's last resort (the HART Lead) gets it."""
    agency = STATEWIDE_AGENCIES[policy.fallbacks.unrouted]
    reason = "the policy named no recipient for this report"
    return RoutedRecipient(
        RecipientKind.HART, agency, "unrouted", reason, "", "fallback", _shortest(policy), "unrouted"
    )


def _shortest(policy: Policy) -> timedelta:
    return timedelta(hours=min(c.hours for c in policy.clocks.values()))


def _deduplicated(found: list[RoutedRecipient]) -> list[RoutedRecipient]:
    """One notification per (kind, agency): the same troop for two towns is told once, earliest deadline.

    A direct answer wins over a fallback to the same agency (the agency is then not a fallback).
    """
    merged: dict[tuple[RecipientKind, str], RoutedRecipient] = {}
    for r in found:
        if (first := merged.get(r.key)) is None:
            merged[r.key] = r
            continue
        detail = first.detail if r.detail in first.detail else f"{first.detail}; {r.detail}".strip("; ")
        fallback = first.fallback_name if (first.fallback_name and r.fallback_name) else None
        inferred = first.inferred and r.inferred
        merged[r.key] = replace(
            first, detail=detail, deadline=min(first.deadline, r.deadline), fallback_name=fallback, inferred=inferred
        )
    return list(merged.values())
