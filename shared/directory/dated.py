"""Values that hold between two dates, so the directory can answer "as of" a report's received time."""

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class Dated:
    """One row of a dated data file; an empty start means "since before the product", an empty end "still"."""

    town: str
    values: dict[str, str]
    effective_from: date | None
    effective_to: date | None
    source: str

    def holds_on(self, day: date) -> bool:
        started = self.effective_from is None or self.effective_from <= day
        return started and (self.effective_to is None or day <= self.effective_to)


def _day(text: str) -> date | None:
    return date.fromisoformat(text) if text.strip() else None


def load_dated(path: Path) -> dict[str, list[Dated]]:
    """Rows grouped by town name (exactly as in ct_towns.csv)."""
    grouped: dict[str, list[Dated]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            meta = {"town", "effective_from", "effective_to", "source"}
            grouped[row["town"]].append(
                Dated(
                    town=row["town"],
                    values={k: v for k, v in row.items() if k not in meta},
                    effective_from=_day(row["effective_from"]),
                    effective_to=_day(row["effective_to"]),
                    source=row["source"],
                )
            )
    return dict(grouped)


def on(rows: list[Dated], day: date) -> list[Dated]:
    return [r for r in rows if r.holds_on(day)]
