"""Who an escalation step reaches: an exact id the directory knows, never a guess.

A chain (`escalation[].to` in the policy) may name a statewide agency, a DCF on-call role, or an agency the
directory names for some town on the day (its police, regional HART liaison or MDT). Any other id is an
error: a typo must stop the service, not become a notification to an agency that does not exist.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date

from shared.directory.agencies import STATEWIDE_AGENCIES, Agency, AgencyKind
from shared.directory.directory import Directory
from shared.events import RecipientKind

ON_CALL_ROLES: dict[str, str] = {"careline-supervisor": "DCF Careline on-call supervisor"}
"""On-call roles a chain may name; DCF-internal, so they are reached over the HART channel."""

KIND_OF_AGENCY: dict[AgencyKind, RecipientKind] = {
    AgencyKind.HART_LEAD: RecipientKind.HART,
    AgencyKind.HART_LIAISON: RecipientKind.HART,
    AgencyKind.FBI: RecipientKind.FBI,
    AgencyKind.MUNICIPAL_POLICE: RecipientKind.POLICE,
    AgencyKind.STATE_POLICE: RecipientKind.POLICE,
    AgencyKind.MDT: RecipientKind.MDT,
    AgencyKind.NCMEC: RecipientKind.NCMEC,
    AgencyKind.HHS: RecipientKind.HHS,
}
"""Which notification channel (topic and notifier) reaches an agency of each kind."""


@dataclass(frozen=True)
class Target:
    """Where an escalation notice goes: the agency, its name, and the recipient kind whose topic reaches it."""

    agency_id: str
    name: str
    kind: RecipientKind


class UnknownTarget(LookupError):
    """An escalation target id that is neither a statewide agency, an on-call role nor an agency of the directory."""

    def __init__(self, agency_id: str) -> None:
        super().__init__(
            f"unknown escalation target {agency_id!r}: not a statewide agency {sorted(STATEWIDE_AGENCIES)}, "
            f"an on-call role {sorted(ON_CALL_ROLES)}, nor a police agency, HART liaison or MDT of the directory"
        )
        self.agency_id = agency_id


def resolve_target(agency_id: str, directory: Directory | None = None, day: date | None = None) -> Target:
    """The target with exactly this id; raises UnknownTarget for any other id. Without a directory only statewide
    agencies and roles resolve; with one, any agency it holds (on `day` if given: police rows are dated)."""
    if agency := STATEWIDE_AGENCIES.get(agency_id):
        return _target(agency)
    if role := ON_CALL_ROLES.get(agency_id):
        return Target(agency_id, role, RecipientKind.HART)
    found: Agency | None = None
    if directory is not None and day is not None:
        found = next((a for a in _local_agencies(directory, day) if a.agency_id == agency_id), None)
    elif directory is not None:
        found = directory.agencies().get(agency_id)
    if found is None:
        raise UnknownTarget(agency_id)
    return _target(found)


def escalation_targets() -> list[str]:
    """The ids a chain may name without the directory: statewide agencies and on-call roles."""
    return sorted([*STATEWIDE_AGENCIES, *ON_CALL_ROLES])


def _target(agency: Agency) -> Target:
    return Target(agency.agency_id, agency.name, KIND_OF_AGENCY[agency.kind])


def _local_agencies(directory: Directory, day: date) -> Iterator[Agency]:
    """Every agency the directory names for some town on `day`."""
    for town in directory.towns:
        yield from (answer.agency for answer in directory.police(town, day) if answer.agency is not None)
        if liaison := directory.hart_liaison(town):
            yield liaison
        if mdt := directory.mdt(town, day):
            yield mdt.agency
