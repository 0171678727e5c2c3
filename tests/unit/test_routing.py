"""The skeleton's routing: every DMST report reaches HART, FBI, local police and an MDT (or its fallback)."""

import pytest

from services.router.routing import FEDERAL_CLOCK, STATE_CLOCK, police_for, route
from shared.directory.towns import load_town_directory
from shared.events import CarelineReport, RecipientKind
from shared.runner.samples import all_town_names, sample_report

DIRECTORY = load_town_directory()


def report_for(town: str, **overrides: object) -> CarelineReport:
    data = sample_report("CL-TEST-0001", town)
    data.update(overrides)
    return CarelineReport.model_validate(data)


@pytest.mark.parametrize("town", all_town_names())
def test_every_town_routes_to_the_four_kinds(town: str) -> None:
    recipients = route(report_for(town), DIRECTORY)
    assert [r.kind for r in recipients] == [
        RecipientKind.HART,
        RecipientKind.FBI,
        RecipientKind.POLICE,
        RecipientKind.MDT,
    ]
    assert len({(r.kind, r.agency.agency_id) for r in recipients}) == 4


def test_municipal_department_is_chosen_for_a_town_with_its_own_police() -> None:
    agency, fallback = police_for(DIRECTORY.find("Hartford"))
    assert (agency.agency_id, fallback) == ("pd-hartford", False)


def test_town_with_a_known_troop_gets_that_troop() -> None:
    agency, fallback = police_for(DIRECTORY.find("Ashford"))
    assert (agency.agency_id, fallback) == ("csp-troop-c", False)


def test_andover_without_coverage_source_uses_its_recorded_troop() -> None:
    agency, fallback = police_for(DIRECTORY.find("Andover"))
    assert (agency.agency_id, fallback) == ("csp-troop-k", False)


def test_state_police_town_with_no_troop_on_record_falls_back_to_state_police_hq() -> None:
    town = next(t for t in DIRECTORY if t.police_coverage == "STATE_POLICE" and not t.state_police_troop)
    recipients = route(report_for(town.name), DIRECTORY)
    police = next(r for r in recipients if r.kind is RecipientKind.POLICE)
    assert police.agency.agency_id == "csp-hq" and police.fallback


def test_unknown_town_routes_by_fallback_not_failure() -> None:
    recipients = route(report_for("Springfield, MA"), DIRECTORY)
    assert {r.kind for r in recipients} == set(RecipientKind)
    assert all(r.fallback for r in recipients if r.kind in (RecipientKind.POLICE, RecipientKind.MDT))


def test_deadlines_follow_the_state_and_federal_clocks() -> None:
    deadlines = {r.kind: r.deadline for r in route(report_for("Hartford"), DIRECTORY)}
    assert deadlines[RecipientKind.FBI] == FEDERAL_CLOCK
    assert deadlines[RecipientKind.POLICE] == STATE_CLOCK


def test_a_report_that_is_not_dmst_still_reaches_the_hart_lead() -> None:
    recipients = route(report_for("Hartford", classification="sexual_abuse"), DIRECTORY)
    assert [(r.kind, r.agency.agency_id, r.fallback) for r in recipients] == [(RecipientKind.HART, "hart-lead", True)]


@pytest.mark.parametrize("name", ["hartford", "  HARTFORD ", "Town of Hartford", "Hartford, CT", "Willimantic"])
def test_town_names_are_matched_forgivingly(name: str) -> None:
    assert DIRECTORY.knows(name)
