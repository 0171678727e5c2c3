"""The full Connecticut directory: for a town and a day, its DCF region, police agencies and MDT.

Each answer is an agency, direct or "inferred" (with the reasoning, from the data files), or None, which the
policy turns into its explicit fallback. The files are validated whole at load: a broken row stops the router.
"""

import csv
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from shared.directory.agencies import Agency, AgencyKind, regional_hart_liaison
from shared.directory.dated import Dated, DirectoryInvalid, gaps, load_dated, on
from shared.directory.towns import DATA_DIR, Town, TownDirectory, UnknownTown, load_town_directory

POLICE_CSV = DATA_DIR / "police_agencies.csv"
JUDICIAL_DISTRICTS_CSV = DATA_DIR / "judicial_districts.csv"
MDTS_CSV = DATA_DIR / "judicial_district_mdts.csv"
BASES = ("direct", "inferred")


@dataclass(frozen=True)
class PoliceAnswer:
    """One police agency of a town on a day; agency None means the source does not name it (fallback)."""

    agency: Agency | None
    kind: AgencyKind
    source: str


@dataclass(frozen=True)
class MdtAnswer:
    """The MDT of a town on a day; `inferred` holds the reasoning when no public source names it directly."""

    agency: Agency
    judicial_district: str
    inferred: str | None
    source: str


@dataclass(frozen=True)
class _Mdt:
    agency: Agency
    basis: str
    source: str


class Directory:
    def __init__(
        self,
        towns: TownDirectory,
        police: dict[str, list[Dated]],
        districts: dict[str, list[Dated]],
        mdts: dict[str, _Mdt],
    ) -> None:
        self.towns = towns
        self._police = police
        self._districts = districts
        self._mdts = mdts

    def town(self, name: str) -> Town:
        """Forgiving match; raises UnknownTown for anything outside the 169."""
        return self.towns.find(name)

    def find(self, name: str) -> Town | None:
        try:
            return self.towns.find(name)
        except UnknownTown:
            return None

    def hart_liaison(self, town: Town) -> Agency | None:
        return regional_hart_liaison(town.dcf_region) if town.dcf_region else None

    def police(self, town: Town, day: date) -> list[PoliceAnswer]:
        answers = []
        for row in on(self._police.get(town.name, []), day):
            agency_id, kind = row.values["agency_id"], AgencyKind(row.values["agency_kind"])
            agency = Agency(agency_id, row.values["agency_name"], kind) if agency_id else None
            answers.append(PoliceAnswer(agency, kind, row.source))
        return answers

    def agencies(self) -> dict[str, Agency]:
        """Every local agency the directory can route to on any date (police, MDTs, regional liaisons)."""
        found = {t.agency.agency_id: t.agency for t in self._mdts.values()}
        for rows in self._police.values():
            for row in rows:
                if agency_id := row.values["agency_id"]:
                    kind = AgencyKind(row.values["agency_kind"])
                    found[agency_id] = Agency(agency_id, row.values["agency_name"], kind)
        for town in self.towns:
            if liaison := self.hart_liaison(town):
                found[liaison.agency_id] = liaison
        return found

    def _district_row(self, town: Town, day: date) -> Dated | None:
        return next((r for r in on(self._districts.get(town.name, []), day) if r.values["judicial_district"]), None)

    def judicial_district(self, town: Town, day: date) -> str | None:
        row = self._district_row(town, day)
        return row.values["judicial_district"] if row else None

    def mdt(self, town: Town, day: date) -> MdtAnswer | None:
        """Inferred when the town's district or the district's team is inferred; both reasons are kept."""
        row = self._district_row(town, day)
        if row is None or (team := self._mdts.get(row.values["judicial_district"])) is None:
            return None
        district = row.values["judicial_district"]
        reasons = [f"district: {row.source}"] if row.values["basis"] == "inferred" else []
        reasons += [f"team: {team.source}"] if team.basis == "inferred" else []
        return MdtAnswer(team.agency, district, "; ".join(reasons) or None, f"{row.source} | {team.source}")


def _load_mdts(path: Path) -> dict[str, _Mdt]:
    teams: dict[str, _Mdt] = {}
    with path.open(newline="", encoding="utf-8") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            where = f"{path.name}:{line}"
            if row["judicial_district"] in teams:
                raise DirectoryInvalid(f"{where}: judicial district {row['judicial_district']!r} has two teams")
            if row["basis"] not in BASES or not row["mdt_id"].startswith("mdt-") or not row["source"].strip():
                raise DirectoryInvalid(f"{where}: needs an mdt-* id, basis in {BASES} and a source")
            agency = Agency(row["mdt_id"], row["mdt_name"], AgencyKind.MDT)
            teams[row["judicial_district"]] = _Mdt(agency, row["basis"], row["source"])
    return teams


def _check_towns(towns: TownDirectory, table: dict[str, list[Dated]], path: Path) -> None:
    """Every town has a row and no row names a town outside the 169."""
    for name, rows in table.items():
        if not towns.knows(name) or towns.find(name).name != name:
            raise DirectoryInvalid(f"{rows[0].where}: {name!r} is not one of the 169 towns (as spelt in ct_towns.csv)")
    if missing := sorted({t.name for t in towns} - table.keys()):
        raise DirectoryInvalid(f"{path.name}: no row for {missing}")


def _check_police(table: dict[str, list[Dated]]) -> None:
    for town, rows in table.items():
        for i, row in enumerate(rows):
            if row.values["agency_kind"] not in {AgencyKind.MUNICIPAL_POLICE, AgencyKind.STATE_POLICE}:
                raise DirectoryInvalid(f"{row.where}: {town}: agency_kind must be municipal_police or state_police")
            for other in rows[i + 1 :]:
                if row.values["agency_id"] == other.values["agency_id"] and row.overlaps(other):
                    raise DirectoryInvalid(f"{other.where}: {town}: dates overlap {row.where} for the same agency")
        if holes := gaps(rows):
            raise DirectoryInvalid(f"{rows[0].where}: {town}: no police agency (nor UNKNOWN row) for {holes}")


def _check_districts(table: dict[str, list[Dated]], mdts: dict[str, _Mdt]) -> None:
    for town, rows in table.items():
        for i, row in enumerate(rows):
            district, basis = row.values["judicial_district"], row.values["basis"]
            if basis not in BASES:
                raise DirectoryInvalid(f"{row.where}: {town}: basis {basis!r} must be one of {BASES}")
            if not district:
                raise DirectoryInvalid(f"{row.where}: {town}: no judicial district, so no MDT")
            if district not in mdts:
                raise DirectoryInvalid(f"{row.where}: {town}: district {district!r} has no team in {MDTS_CSV.name}")
            if basis == "inferred" and not row.source.startswith("INFERRED:"):
                raise DirectoryInvalid(f"{row.where}: {town}: an inferred row's source must start 'INFERRED:' + why")
            for other in rows[i + 1 :]:
                if row.overlaps(other):
                    raise DirectoryInvalid(f"{other.where}: {town}: two judicial districts at once (see {row.where})")
        if holes := gaps(rows):
            raise DirectoryInvalid(f"{rows[0].where}: {town}: no judicial district for {holes}")


@lru_cache(maxsize=2)
def load_directory(data_dir: Path = DATA_DIR) -> Directory:
    """Loads and validates every file; raises DirectoryInvalid naming the first broken row."""
    towns = load_town_directory(data_dir / "ct_towns.csv")
    police = load_dated(data_dir / POLICE_CSV.name)
    districts = load_dated(data_dir / JUDICIAL_DISTRICTS_CSV.name)
    mdts = _load_mdts(data_dir / MDTS_CSV.name)
    for table, path in ((police, POLICE_CSV), (districts, JUDICIAL_DISTRICTS_CSV)):
        _check_towns(towns, table, path)
    _check_police(police)
    _check_districts(districts, mdts)
    return Directory(towns, police, districts, mdts)
