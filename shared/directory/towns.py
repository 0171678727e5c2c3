"""Town table loaded from the CSV in data/ (refreshable without code changes)."""

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
TOWNS_CSV = DATA_DIR / "ct_towns.csv"

# Common alternative names a caller may give for a town (villages and sections named like towns).
ALIASES = {
    "willimantic": "windham",
    "mystic": "stonington",
    "new haven city": "new haven",
    "city of groton": "groton",
    "long point": "groton",
    "groton long point": "groton",
    "jewett city": "griswold",
}
# Abbreviated compass prefixes a caller may type ("E. Hartford", "No. Haven").
_PREFIXES = {"e": "east", "w": "west", "n": "north", "no": "north", "s": "south", "so": "south"}


class UnknownTown(LookupError):
    """A town name that matches none of the 169 Connecticut towns, even forgivingly."""

    def __init__(self, name: str) -> None:
        super().__init__(f"unknown Connecticut town: {name!r}")
        self.name = name


@dataclass(frozen=True)
class Town:
    name: str
    county: str
    dcf_region: str
    dcf_office: str
    police_coverage: str  # MUNICIPAL_PD, STATE_POLICE or "" when no source says
    municipal_police_dept: str
    state_police_troop: str
    judicial_district: str


def normalise(name: str) -> str:
    """Case, spacing, punctuation, "Town of", ", CT" and compass abbreviations do not matter."""
    text = re.sub(r"[\s_-]+", " ", name.strip().lower())
    text = re.sub(r"^(town|city) of ", "", text)
    text = re.sub(r",? ?(ct|conn\.?|connecticut)\.?$", "", text).strip(" ,.")
    first, _, rest = text.partition(" ")
    if rest and first.rstrip(".") in _PREFIXES:
        text = f"{_PREFIXES[first.rstrip('.')]} {rest}"
    return ALIASES.get(text, text)


class TownDirectory:
    def __init__(self, towns: list[Town]) -> None:
        self._by_key = {normalise(t.name): t for t in towns}

    def __len__(self) -> int:
        return len(self._by_key)

    def __iter__(self) -> Iterator[Town]:
        return iter(self._by_key.values())

    def find(self, name: str) -> Town:
        try:
            return self._by_key[normalise(name)]
        except KeyError:
            raise UnknownTown(name) from None

    def knows(self, name: str) -> bool:
        return normalise(name) in self._by_key


def _row_to_town(row: dict[str, str]) -> Town:
    return Town(
        name=row["town"],
        county=row["county"],
        dcf_region=row["dcf_region"],
        dcf_office=row["dcf_office"],
        police_coverage=row["police_coverage_2013"],
        municipal_police_dept=row["municipal_police_dept_2013"],
        state_police_troop=row["state_police_troop"],
        judicial_district=row["judicial_district"],
    )


@lru_cache(maxsize=4)
def load_town_directory(path: Path = TOWNS_CSV) -> TownDirectory:
    with path.open(newline="", encoding="utf-8") as handle:
        towns = [_row_to_town(row) for row in csv.DictReader(handle)]
    if len(towns) != 169:
        raise ValueError(f"{path} holds {len(towns)} towns; Connecticut has 169")
    return TownDirectory(towns)
