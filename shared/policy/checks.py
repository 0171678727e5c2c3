"""Checks across the policy's parts and against the directory: every reference must resolve."""

from collections.abc import Iterator

from shared.directory.agencies import STATEWIDE_AGENCIES
from shared.directory.targets import UnknownTarget, resolve_target
from shared.directory.towns import TownDirectory
from shared.events import RecipientKind
from shared.policy.model import Policy, Resolve, Route

Loc = tuple[str | int, ...]


def cross_check(policy: Policy, towns: TownDirectory) -> list[tuple[Loc, str]]:
    problems: list[tuple[Loc, str]] = []
    if missing := [k.value for k in RecipientKind if k not in policy.recipient_kinds]:
        problems.append((("recipient_kinds",), f"no allow-list, SLA or escalation for recipient kind(s) {missing}"))
    for name, agency_id in policy.fallbacks:
        if agency_id not in STATEWIDE_AGENCIES:
            problems.append((("fallbacks", name), _unknown_agency(agency_id)))
    for kind, kind_policy in policy.recipient_kinds.items():
        for i, step in enumerate(kind_policy.escalation):
            try:
                resolve_target(step.to)
            except UnknownTarget as exc:
                problems.append((("recipient_kinds", kind.value, "escalation", i, "to"), str(exc)))
    problems += _check_route(policy, policy.route, ("route",), towns)
    return problems


def _check_route(policy: Policy, route: Route, loc: Loc, towns: TownDirectory) -> Iterator[tuple[Loc, str]]:
    for key in ("residence_town", "occurrence_town"):
        for i, name in enumerate(getattr(route.match, key) or []):
            if not towns.knows(name):
                yield (*loc, "match", key, i), f"{name!r} is not one of the 169 Connecticut towns"
    for i, spec in enumerate(route.recipients):
        here = (*loc, "recipients", i)
        if spec.clock not in policy.clocks:
            yield (*here, "clock"), f"unknown clock {spec.clock!r}; defined: {sorted(policy.clocks)}"
        if spec.resolve is Resolve.AGENCY and spec.agency not in STATEWIDE_AGENCIES:
            yield (*here, "agency"), _unknown_agency(spec.agency)
        if spec.resolve is not Resolve.AGENCY and spec.agency is not None:
            yield (*here, "agency"), f"resolve {spec.resolve.value} finds the agency in the directory; remove agency"
    for i, child in enumerate(route.routes):
        yield from _check_route(policy, child, (*loc, "routes", i), towns)


def _unknown_agency(agency_id: str | None) -> str:
    return f"unknown agency {agency_id!r}; statewide agencies: {sorted(STATEWIDE_AGENCIES)}"
