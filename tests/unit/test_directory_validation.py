"""A broken directory row stops the router (and check_policy) with a message that names the row."""

import shutil
from datetime import date
from pathlib import Path

import pytest

from services.router import check_policy
from shared.directory.dated import DirectoryInvalid
from shared.directory.directory import load_directory
from shared.directory.resolution import resolve_all, resolve_town
from shared.directory.towns import DATA_DIR


@pytest.fixture
def data(tmp_path: Path) -> Path:
    for f in DATA_DIR.glob("*.csv"):
        shutil.copy(f, tmp_path / f.name)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def _line_of(path: Path, start: str) -> int:
    return next(i for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if line.startswith(start))


def test_shipped_directory_is_valid() -> None:
    assert len(load_directory().towns) == 169


def test_unknown_town_is_named_with_its_row(data: Path) -> None:
    _edit(data / "police_agencies.csv", "\nAnsonia,pd-ansonia", "\nAnsonnia,pd-ansonia")
    with pytest.raises(DirectoryInvalid, match=r"police_agencies.csv:3: 'Ansonnia' is not one of the 169"):
        load_directory(data)


def test_overlapping_judicial_districts_are_refused(data: Path) -> None:
    path = data / "judicial_districts.csv"
    _edit(path, "Avon,Litchfield,2025-10-01,", "Avon,Litchfield,2025-09-01,")
    line = _line_of(path, "Avon,Litchfield")
    with pytest.raises(DirectoryInvalid, match=rf"judicial_districts.csv:{line}: Avon: two judicial districts at once"):
        load_directory(data)


def test_a_gap_in_dates_means_a_town_without_a_recipient(data: Path) -> None:
    _edit(
        data / "police_agencies.csv",
        "Ledyard,pd-ledyard,Ledyard Police Department,municipal_police,2016-02-01",
        "Ledyard,pd-ledyard,Ledyard Police Department,municipal_police,2016-03-01",
    )
    with pytest.raises(DirectoryInvalid, match=r"Ledyard: no police agency .* for \['2016-02-01 to 2016-03-01'\]"):
        load_directory(data)


def test_a_town_without_a_row_is_refused(data: Path) -> None:
    path = data / "judicial_districts.csv"
    path.write_text("\n".join(r for r in path.read_text().splitlines() if not r.startswith("Union,")) + "\n")
    with pytest.raises(DirectoryInvalid, match=r"no row for \['Union'\]"):
        load_directory(data)


def test_inferred_row_without_reasoning_is_refused(data: Path) -> None:
    _edit(data / "judicial_districts.csv", ',inferred,"INFERRED:', ',inferred,"because:')
    with pytest.raises(DirectoryInvalid, match=r"an inferred row's source must start 'INFERRED:'"):
        load_directory(data)


def test_check_policy_fails_on_a_broken_row_and_names_it(data: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _edit(
        data / "police_agencies.csv",
        "Bethel,pd-bethel,Bethel Police Department,municipal_police,,",
        "Bethel,pd-bethel,Bethel Police Department,municipal_police,2020-01-01,2019-01-01",
    )
    assert check_policy.main(["--data-dir", str(data)]) == 2
    assert "Bethel: effective_to 2019-01-01 is before effective_from 2020-01-01" in capsys.readouterr().err


def test_check_policy_prints_coverage_and_lists_fallbacks_and_inferred(capsys: pytest.CaptureFixture[str]) -> None:
    assert check_policy.main(["--as-of", "2026-12-03T12:00:00+00:00"]) == 0
    out = capsys.readouterr().out
    assert "police       149         0        20     0" in out
    assert "mdt           29       140         0     0" in out
    assert "FALLBACK police Pomfret" in out and "INFERRED mdt    Hartford" in out
    assert "FALLBACK police Voluntown" not in out  # Troop E, from the town's own page


def test_resolution_shows_what_a_town_resolves_to_on_a_day() -> None:
    directory = load_directory()
    groton = resolve_town(directory, "Groton", date(2026, 12, 3))
    assert [p.agency_id for p in groton.police] == ["pd-groton-town", "pd-groton-city", "pd-groton-long-point"]
    assert groton.mdt is not None and groton.mdt.basis == "inferred" and groton.judicial_district == "New London"
    avon = resolve_town(directory, "Avon", date(2025, 9, 30))
    assert avon.mdt is not None and avon.mdt.agency_id == "mdt-hartford-jd"
    rows = resolve_all(directory, date(2026, 12, 3))
    assert len(rows) == 169 and all(r["mdt"] for r in rows)
    assert sum(1 for r in rows if any(p["basis"] == "fallback" for p in r["police"])) == 20
