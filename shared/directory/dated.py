"""Values that hold between two dates, so the directory can answer "as of" a report's received time."""

import csv
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path

META_COLUMNS = frozenset({"town", "effective_from", "effective_to", "source"})


class DirectoryInvalid(ValueError):
    """A directory data file cannot be used; the message names the file and row. The router refuses to start."""


@dataclass(frozen=True)
class Dated:
    """One row of a dated data file; an empty start means "since before the product", an empty end "still"."""

    town: str
    values: dict[str, str]
    effective_from: date | None
    effective_to: date | None
    source: str
    where: str  # "file.csv:line", so every problem names its row

    def holds_on(self, day: date) -> bool:
        started = self.effective_from is None or self.effective_from <= day
        return started and (self.effective_to is None or day <= self.effective_to)

    def overlaps(self, other: "Dated") -> bool:
        starts_before_other_ends = other.effective_to is None or (self.effective_from or date.min) <= other.effective_to
        other_starts_before_end = self.effective_to is None or (other.effective_from or date.min) <= self.effective_to
        return starts_before_other_ends and other_starts_before_end


def _day(text: str, where: str, column: str) -> date | None:
    try:
        return date.fromisoformat(text) if text.strip() else None
    except ValueError:
        raise DirectoryInvalid(f"{where}: {column} {text!r} is not a date (YYYY-MM-DD)") from None


def load_dated(path: Path) -> dict[str, list[Dated]]:
    """Rows grouped by town name (exactly as in ct_towns.csv); a row with no source or reversed dates is refused."""
    grouped: dict[str, list[Dated]] = defaultdict(list)
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if missing := META_COLUMNS - set(reader.fieldnames or []):
            raise DirectoryInvalid(f"{path.name}: missing column(s) {sorted(missing)}")
        for line, row in enumerate(reader, start=2):
            where = f"{path.name}:{line}"
            start, end = (
                _day(row["effective_from"], where, "effective_from"),
                _day(row["effective_to"], where, "effective_to"),
            )
            if start and end and end < start:
                raise DirectoryInvalid(f"{where}: {row['town']}: effective_to {end} is before effective_from {start}")
            if not row["source"].strip():
                raise DirectoryInvalid(f"{where}: {row['town']}: every row must name its public source")
            values = {k: v for k, v in row.items() if k not in META_COLUMNS}
            grouped[row["town"]].append(Dated(row["town"], values, start, end, row["source"], where))
    return dict(grouped)


def on(rows: list[Dated], day: date) -> list[Dated]:
    return [r for r in rows if r.holds_on(day)]


def gaps(rows: list[Dated]) -> list[str]:
    """Periods no row covers (from the beginning of time to "still"), as text: a town must never be unanswered."""
    found: list[str] = []
    cursor: date | None = None  # None: the beginning of time
    for row in sorted(rows, key=lambda r: r.effective_from or date.min):
        if (row.effective_from or date.min) > (cursor or date.min) and row.effective_from is not None:
            found.append(f"{'the beginning' if cursor is None else cursor} to {row.effective_from}")
        if row.effective_to is None:
            return found
        if cursor is None or row.effective_to >= cursor:
            cursor = date.fromordinal(row.effective_to.toordinal() + 1)
    found.append(f"{'the beginning' if cursor is None else cursor} onwards")
    return found
