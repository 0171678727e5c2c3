"""The shipped policy on the real directory: table tests of towns and report shapes."""

from datetime import date

import pytest

from devtools.runner.samples import all_town_names
from shared.events import RecipientKind
from tests.unit.routing_support import DIRECTORY, agencies, report_for, routed


@pytest.mark.parametrize("town", all_town_names())
def test_every_town_routes_to_the_four_21_14_kinds_and_the_regional_liaison(town: str) -> None:
    decision = routed(report_for(town))
    assert {r.kind for r in decision.recipients} == {
        RecipientKind.HART,
        RecipientKind.FBI,
        RecipientKind.POLICE,
        RecipientKind.MDT,
    }
    assert agencies(decision, "hart")[:2] == ["hart-lead", agencies(decision, "hart")[1]]
    assert agencies(decision, "hart")[1].startswith("hart-region-")
    assert len({r.key for r in decision.recipients}) == len(decision.recipients)


@pytest.mark.parametrize(
    ("residence", "occurrence", "police", "police_fallback"),
    [
        ("Hartford", [], ["pd-hartford"], False),
        ("Ashford", [], ["csp-troop-c"], False),
        ("Andover", [], ["csp-troop-k"], False),  # no 2013 coverage, troop on record
        ("Groton", [], ["pd-groton-town", "pd-groton-city", "pd-groton-long-point"], False),  # three departments
        ("City of Groton", [], ["pd-groton-town", "pd-groton-city", "pd-groton-long-point"], False),
        ("Salisbury", [], ["csp-troop-b"], False),
        ("Killingly", [], ["csp-troop-d"], False),
        ("Voluntown", [], ["csp-troop-e"], False),  # the town's page quotes "the Lt. of troop E"
        ("Brooklyn", [], ["csp-troop-d"], False),  # a Troop D resident-trooper town
        ("Canaan", [], ["csp-troop-b"], False),  # Falls Village
        ("Woodbury", [], ["csp-troop-l"], False),
        ("Oxford", [], ["csp-troop-a"], False),
        ("Salem", [], ["csp-troop-k"], False),
        ("Burlington", [], ["csp-troop-l"], False),
        ("Norfolk", [], ["csp-troop-b", "csp-troop-l"], False),  # the source names both troops
        ("Windham", [], ["pd-willimantic", "csp-troop-k"], False),  # split town: both
        ("Willimantic", [], ["pd-willimantic", "csp-troop-k"], False),
        ("Putnam", [], ["pd-putnam", "csp-hq"], False),  # listed under both; troop unknown -> HQ
        ("Hartford", ["New Haven"], ["pd-hartford", "pd-new-haven"], False),  # two towns, two agencies
        ("Hartford", ["Hartford"], ["pd-hartford"], False),  # same town once
        ("Mansfield", ["Ashford"], ["csp-troop-c"], False),  # same troop: one notification
        ("Springfield, MA", [], ["csp-hq"], True),  # out of state
        ("Bolton", ["Springfield, MA"], ["csp-troop-k", "csp-hq"], False),
    ],
)
def test_police_table(residence: str, occurrence: list[str], police: list[str], police_fallback: bool) -> None:
    decision = routed(report_for(residence, occurrence))
    assert agencies(decision, "police") == police
    first = next(r for r in decision.recipients if r.kind is RecipientKind.POLICE)
    assert (first.fallback_name is not None) == police_fallback


def test_putnam_state_police_side_is_marked_fallback() -> None:
    decision = routed(report_for("Putnam"))
    hq = next(r for r in decision.recipients if r.agency.agency_id == "csp-hq")
    assert hq.fallback_name == "unknown_troop"


def test_state_police_town_with_no_troop_falls_back_to_hq() -> None:
    decision = routed(report_for("Canterbury"))
    police = [r for r in decision.recipients if r.kind is RecipientKind.POLICE]
    assert [(r.agency.agency_id, r.fallback_name) for r in police] == [("csp-hq", "unknown_troop")]


def test_out_of_state_town_routes_by_fallback_not_failure() -> None:
    decision = routed(report_for("Springfield, MA"))
    by_kind = {(r.kind.value, r.agency.agency_id): r.fallback_name for r in decision.recipients}
    assert by_kind == {
        ("hart", "hart-lead"): None,  # direct HART Lead wins over the unknown-region fallback
        ("fbi", "fbi-new-haven"): None,
        ("police", "csp-hq"): "unknown_town",
        ("mdt", "hart-lead"): "unknown_mdt",
    }


@pytest.mark.parametrize(
    ("town", "received", "mdt", "fallback"),
    [
        ("Milford", "2026-01-05T10:00:00+00:00", "mdt-ansonia-milford", None),
        ("New Haven", "2026-01-05T10:00:00+00:00", "mdt-new-haven", None),
        ("Bridgeport", "2026-01-05T10:00:00+00:00", "mdt-greater-bridgeport", None),
        ("Fairfield", "2023-06-01T10:00:00+00:00", "mdt-greater-bridgeport", None),  # before the 2024 rename
        ("Hartford", "2026-01-05T10:00:00+00:00", "mdt-hartford-jd", None),  # inferred, not a fallback
        ("Avon", "2025-09-30T10:00:00+00:00", "mdt-hartford-jd", None),
        ("Avon", "2025-10-01T10:00:00+00:00", "mdt-litchfield-jd", None),  # moved by Public Act 25-91
        ("Darien", "2026-01-05T10:00:00+00:00", "mdt-greater-norwalk", None),
    ],
)
def test_mdt_table(town: str, received: str, mdt: str, fallback: str | None) -> None:
    decision = routed(report_for(town, received_at=received))
    [r] = [r for r in decision.recipients if r.kind is RecipientKind.MDT]
    assert (r.agency.agency_id, r.fallback_name) == (mdt, fallback)


@pytest.mark.parametrize(
    ("town", "day", "police"),
    [
        ("Ledyard", "2016-01-31", "csp-troop-e"),
        ("Ledyard", "2016-02-01", "pd-ledyard"),
        ("East Lyme", "2017-06-30", "csp-hq"),
        ("East Lyme", "2017-07-01", "pd-east-lyme"),
    ],
)
def test_police_coverage_follows_effective_dates(town: str, day: str, police: str) -> None:
    assert agencies(routed(report_for(town, received_at=f"{day}T12:00:00+00:00")), "police") == [police]


@pytest.mark.parametrize(
    ("town", "day", "district"),
    [
        ("Avon", "2025-09-30", "Hartford"),
        ("Avon", "2025-10-01", "Litchfield"),
        ("Fairfield", "2023-12-31", "Fairfield"),
        ("Fairfield", "2024-01-01", "Bridgeport"),
        ("Burlington", "2025-09-30", "New Britain"),
        ("Burlington", "2025-10-01", "Litchfield"),
        ("Darien", "2026-01-05", "Stamford-Norwalk"),
    ],
)
def test_judicial_district_as_of_received_date(town: str, day: str, district: str) -> None:
    assert DIRECTORY.judicial_district(DIRECTORY.town(town), date.fromisoformat(day)) == district


def test_missing_child_adds_ncmec_on_the_federal_clock() -> None:
    decision = routed(report_for("Hartford", missing_or_runaway=True))
    assert "dmst-missing-runaway" in decision.matched_rules
    [ncmec] = [r for r in decision.recipients if r.kind is RecipientKind.NCMEC]
    assert ncmec.agency.agency_id == "ncmec" and ncmec.deadline.total_seconds() == 24 * 3600


def test_foreign_national_child_adds_hhs() -> None:
    decision = routed(report_for("Hartford", child={"foreign_national": True}))
    assert agencies(decision, "hhs") == ["hhs-otip"]


def test_deadlines_follow_the_state_and_federal_clocks() -> None:
    deadlines = {r.kind: r.deadline.total_seconds() / 3600 for r in routed(report_for("Hartford")).recipients}
    assert deadlines[RecipientKind.FBI] == 24 and deadlines[RecipientKind.POLICE] == 12


def test_a_report_that_is_not_dmst_takes_the_default_route_to_the_hart_lead() -> None:
    decision = routed(report_for("Hartford", classification="sexual_abuse"))
    assert decision.matched_rules == ("default",)
    assert [(r.kind.value, r.agency.agency_id, r.fallback_name) for r in decision.recipients] == [
        ("hart", "hart-lead", "default_route")
    ]


@pytest.mark.parametrize(
    "name", ["hartford", "  HARTFORD ", "Town of Hartford", "Hartford, CT", "Willimantic", "E. Hartford", "No. Haven"]
)
def test_town_names_are_matched_forgivingly(name: str) -> None:
    assert DIRECTORY.towns.knows(name)
