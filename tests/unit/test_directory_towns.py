"""Every one of the 169 towns has a real police agency and MDT today (or an inferred MDT row with its reason).

The police exceptions are listed by name: each is explained in shared/directory/data/DIRECTORY.md, and the
list may only shrink (a new fallback fails this test).
"""

from datetime import UTC, date, datetime

import pytest

from services.router.check_policy import coverage, decisions, probe_report
from services.router.decision import route_report
from shared.directory.towns import DATA_DIR, load_town_directory
from shared.events import RecipientKind
from tests.unit.routing_support import DIRECTORY, POLICY

TODAY = datetime(2026, 12, 3, 12, tzinfo=UTC)
POLICE_FALLBACK_TOWNS = frozenset(
    [
        *"Bridgewater Canterbury Colebrook Eastford Hampton Hartland Harwinton Lisbon Pomfret Putnam".split(),
        *"Roxbury Scotland Sherman Sprague Thompson Warren Washington Woodstock".split(),
        "East Granby",
        "New Fairfield",
    ]
)
TOWNS = sorted(t.name for t in load_town_directory())


@pytest.mark.parametrize("town", TOWNS)
def test_town_has_police_and_mdt(town: str) -> None:
    decision = route_report(probe_report(town, TODAY), POLICY, DIRECTORY)
    police = [r for r in decision.recipients if r.kind is RecipientKind.POLICE]
    [mdt] = [r for r in decision.recipients if r.kind is RecipientKind.MDT]
    assert police, town
    fallbacks = [r for r in police if r.fallback_name]
    if town in POLICE_FALLBACK_TOWNS:
        assert [r.agency.agency_id for r in fallbacks] == ["csp-hq"]
    else:
        assert not fallbacks and all(r.agency.agency_id.startswith(("pd-", "csp-troop-")) for r in police)
    assert mdt.fallback_name is None and mdt.agency.agency_id.startswith("mdt-")
    answer = DIRECTORY.mdt(DIRECTORY.town(town), TODAY.date())
    assert answer is not None and answer.agency == mdt.agency
    assert mdt.inferred == (answer.inferred is not None)
    if answer.inferred:
        assert "INFERRED:" in answer.inferred and "inferred" in mdt.detail


def test_coverage_today_is_169_mdt_and_149_police_direct() -> None:
    table = coverage(decisions(POLICY, DIRECTORY, TODAY))
    assert table[RecipientKind.MDT]["fallback"] == 0 and table[RecipientKind.MDT]["none"] == 0
    assert table[RecipientKind.POLICE]["direct"] == 169 - len(POLICE_FALLBACK_TOWNS) == 149


def test_every_police_fallback_town_is_explained_in_directory_md() -> None:
    text = (DATA_DIR / "DIRECTORY.md").read_text(encoding="utf-8")
    missing = [t for t in POLICE_FALLBACK_TOWNS if f"**{t}**" not in text]
    assert not missing


def test_groton_notifies_each_of_its_three_departments_and_says_why() -> None:
    decision = route_report(probe_report("Groton", TODAY), POLICY, DIRECTORY)
    police = [r for r in decision.recipients if r.kind is RecipientKind.POLICE]
    assert {r.agency.agency_id for r in police} == {"pd-groton-town", "pd-groton-city", "pd-groton-long-point"}
    assert all("Groton" in r.full_reason for r in police)


def test_judicial_district_history_is_answered_on_both_sides_of_each_change() -> None:
    avon = DIRECTORY.town("Avon")
    assert DIRECTORY.judicial_district(avon, date(2025, 9, 30)) == "Hartford"
    assert DIRECTORY.judicial_district(avon, date(2025, 10, 1)) == "Litchfield"
