"""The full Connecticut directory: for a town and a day, its DCF region, police agencies and MDT.

Each answer is either an agency (direct) or None, which the policy turns into its explicit fallback.
"""

import csv
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from pathlib import Path

from shared.directory.agencies import Agency, AgencyKind, regional_hart_liaison, slug
from shared.directory.dated import Dated, load_dated, on
from shared.directory.towns import DATA_DIR, Town, TownDirectory, UnknownTown, load_town_directory

POLICE_CSV = DATA_DIR / "police_agencies.csv"
JUDICIAL_DISTRICTS_CSV = DATA_DIR / "judicial_districts.csv"
MDTS_CSV = DATA_DIR / "judicial_district_mdts.csv"


@dataclass(frozen=True)
class PoliceAnswer:
    """One police agency of a town on a day; agency None means the source does not name it (fallback)."""

    agency: Agency | None
    kind: AgencyKind
    source: str


class Directory:
    def __init__(
        self,
        towns: TownDirectory,
        police: dict[str, list[Dated]],
        districts: dict[str, list[Dated]],
        mdts: dict[str, Agency],
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

    def judicial_district(self, town: Town, day: date) -> str | None:
        names = [r.values["judicial_district"] for r in on(self._districts.get(town.name, []), day)]
        return next((n for n in names if n), None)

    def mdt(self, town: Town, day: date) -> Agency | None:
        district = self.judicial_district(town, day)
        return self._mdts.get(district) if district else None


def _load_mdts(path: Path) -> dict[str, Agency]:
    with path.open(newline="", encoding="utf-8") as handle:
        return {
            row["judicial_district"]: Agency(f"mdt-{slug(row['judicial_district'])}", row["mdt_name"], AgencyKind.MDT)
            for row in csv.DictReader(handle)
            if row["mdt_name"].strip()
        }


def _check_towns(towns: TownDirectory, table: dict[str, list[Dated]], path: Path) -> None:
    """Every town has a row (even an UNKNOWN one) and no row names a town outside the 169."""
    names = {t.name for t in towns}
    if missing := names - table.keys():
        raise ValueError(f"{path.name}: no row for {sorted(missing)}")
    if extra := table.keys() - names:
        raise ValueError(f"{path.name}: towns not in ct_towns.csv: {sorted(extra)}")


@lru_cache(maxsize=2)
def load_directory(data_dir: Path = DATA_DIR) -> Directory:
    towns = load_town_directory(data_dir / "ct_towns.csv")
    police = load_dated(data_dir / POLICE_CSV.name)
    districts = load_dated(data_dir / JUDICIAL_DISTRICTS_CSV.name)
    for table, path in ((police, POLICE_CSV), (districts, JUDICIAL_DISTRICTS_CSV)):
        _check_towns(towns, table, path)
    return Directory(towns, police, districts, _load_mdts(data_dir / MDTS_CSV.name))
