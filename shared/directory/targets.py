"""Who an id names, exactly: an agency of the directory, a statewide agency or an on-call role, and its kind.

One answer for the policy check at load (every `escalation[].to` must resolve) and for the escalator at
run time, instead of guessing a kind from an id's prefix: an unknown id is an error, never a police agency.
"""

from dataclasses import dataclass

from shared.directory.agencies import STATEWIDE_AGENCIES, Agency, AgencyKind
from shared.directory.directory import Directory
from shared.events import RecipientKind

KIND_OF_AGENCY = {
    AgencyKind.HART_LEAD: RecipientKind.HART,
    AgencyKind.HART_LIAISON: RecipientKind.HART,
    AgencyKind.FBI: RecipientKind.FBI,
    AgencyKind.MUNICIPAL_POLICE: RecipientKind.POLICE,
    AgencyKind.STATE_POLICE: RecipientKind.POLICE,
    AgencyKind.MDT: RecipientKind.MDT,
    AgencyKind.NCMEC: RecipientKind.NCMEC,
    AgencyKind.HHS: RecipientKind.HHS,
}

ROLES = {"careline-supervisor": "DCF Careline on-call supervisor"}
"""On-call roles a chain may name; DCF-internal, so they are reached over the HART channel."""


class UnknownTarget(LookupError):
    def __init__(self, target_id: str, known: list[str]) -> None:
        super().__init__(f"unknown escalation target {target_id!r}; statewide agencies and roles: {known}")
        self.target_id = target_id


@dataclass(frozen=True)
class Target:
    agency_id: str
    name: str
    kind: RecipientKind


def escalation_targets() -> list[str]:
    """The ids a policy's escalation chain may name: statewide agencies and on-call roles."""
    return sorted([*STATEWIDE_AGENCIES, *ROLES])


def resolve_target(target_id: str, directory: Directory | None = None) -> Target:
    """Exact: a statewide agency, an on-call role, or (given the directory) any agency it holds; else UnknownTarget."""
    agency: Agency | None = STATEWIDE_AGENCIES.get(target_id)
    if agency is None and directory is not None:
        agency = directory.agencies().get(target_id)
    if agency is not None:
        return Target(agency.agency_id, agency.name, KIND_OF_AGENCY[agency.kind])
    if target_id in ROLES:
        return Target(target_id, ROLES[target_id], RecipientKind.HART)
    raise UnknownTarget(target_id, escalation_targets())
