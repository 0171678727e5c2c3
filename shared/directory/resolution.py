"""Which agency each town resolves to on a day: the data behind ops' directory page (no personal data)."""

from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from shared.directory.directory import Directory


@dataclass(frozen=True)
class ResolvedAgency:
    agency_id: str | None  # None: no source names it, the policy's fallback is used
    name: str | None
    kind: str
    basis: str  # direct, inferred or fallback
    source: str


@dataclass(frozen=True)
class TownResolution:
    town: str
    dcf_region: str
    hart_liaison: str | None
    judicial_district: str | None
    police: list[ResolvedAgency]
    mdt: ResolvedAgency | None


def resolve_town(directory: Directory, name: str, day: date) -> TownResolution:
    """Raises UnknownTown for a name outside the 169 (ops answers 404)."""
    town = directory.town(name)
    police = [
        ResolvedAgency(
            a.agency.agency_id if a.agency else None,
            a.agency.name if a.agency else None,
            a.kind.value,
            "direct" if a.agency else "fallback",
            a.source,
        )
        for a in directory.police(town, day)
    ]
    answer = directory.mdt(town, day)
    mdt = (
        ResolvedAgency(
            answer.agency.agency_id,
            answer.agency.name,
            "mdt",
            "inferred" if answer.inferred else "direct",
            answer.inferred or answer.source,
        )
        if answer
        else None
    )
    liaison = directory.hart_liaison(town)
    return TownResolution(
        town.name,
        town.dcf_region,
        liaison.agency_id if liaison else None,
        directory.judicial_district(town, day),
        police,
        mdt,
    )


def resolve_all(directory: Directory, day: date) -> list[dict[str, Any]]:
    """All 169 towns, as JSON-ready dicts, for `GET /api/directory/towns?as_of=YYYY-MM-DD`."""
    return [asdict(resolve_town(directory, t.name, day)) for t in sorted(directory.towns, key=lambda t: t.name)]
