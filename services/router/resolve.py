"""Turn one recipient spec of the policy into agencies, via the directory or the policy's fallbacks."""

from collections.abc import Iterator
from dataclasses import dataclass

from shared.directory.agencies import STATEWIDE_AGENCIES, Agency
from shared.directory.directory import Directory, PoliceAnswer
from shared.events import CarelineReport
from shared.policy.model import Fallbacks, RecipientSpec, Resolve, TownRole


@dataclass(frozen=True)
class Resolved:
    agency: Agency
    basis: str  # statewide, residence, occurrence
    detail: str  # human reason suffix, may name a town (not for the audit event)
    fallback_name: str | None = None  # which fallback of the policy was used, if any
    inferred: bool = False  # the directory inferred the agency (reason in the data files, see check_policy)


def resolve(spec: RecipientSpec, report: CarelineReport, directory: Directory, fallbacks: Fallbacks) -> list[Resolved]:
    if spec.resolve is Resolve.AGENCY:
        assert spec.agency is not None  # guaranteed by policy_checks
        return [Resolved(STATEWIDE_AGENCIES[spec.agency], "statewide", "")]
    return list(_local(spec, report, directory, fallbacks))


def _towns(spec: RecipientSpec, report: CarelineReport) -> Iterator[tuple[TownRole, str]]:
    for role in spec.towns:
        names = [report.residence_town] if role is TownRole.RESIDENCE else report.occurrence_towns
        yield from ((role, name) for name in names)


def _local(spec: RecipientSpec, report: CarelineReport, d: Directory, fb: Fallbacks) -> Iterator[Resolved]:
    day = report.received_at.date()
    for role, name in _towns(spec, report):
        town = d.find(name)
        if spec.resolve is Resolve.LOCAL_POLICE:
            if town is None:
                yield _fallback(fb.unknown_town, "unknown_town", role, _not_a_town(role))
                continue
            answers: list[PoliceAnswer | None] = [*d.police(town, day)] or [None]
            for answer in answers:
                if answer is None or answer.agency is None:
                    yield _fallback(fb.unknown_troop, "unknown_troop", role, f"no troop on record for {town.name}")
                else:
                    yield Resolved(answer.agency, role.value, f"{role} town {town.name}")
        elif spec.resolve is Resolve.LOCAL_MDT:
            mdt = d.mdt(town, day) if town else None
            if town is None or mdt is None:
                why = f"no MDT on record for {town.name}" if town else _not_a_town(role)
                yield _fallback(fb.unknown_mdt, "unknown_mdt", role, why)
            else:
                how = (
                    "inferred from its judicial district, see DIRECTORY.md" if mdt.inferred else "its judicial district"
                )
                detail = f"{role} town {town.name}: {mdt.judicial_district} JD, {how}"
                yield Resolved(mdt.agency, role.value, detail, inferred=mdt.inferred is not None)
        else:
            liaison = d.hart_liaison(town) if town else None
            if liaison is None:
                why = f"no DCF region for {town.name}" if town else _not_a_town(role)
                yield _fallback(fb.unknown_region, "unknown_region", role, why)
            else:
                yield Resolved(liaison, role.value, f"{role} town {town.name}" if town else "")


def _not_a_town(role: TownRole) -> str:
    """Never the submitted name: it is the Careline's free text and may name people (issue 12)."""
    return f"{role} town is not a Connecticut town"


def _fallback(agency_id: str, name: str, role: TownRole, why: str) -> Resolved:
    return Resolved(STATEWIDE_AGENCIES[agency_id], role.value, f"fallback {name}: {why}", fallback_name=name)
