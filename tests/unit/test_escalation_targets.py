"""Escalation targets resolve exactly through the directory; an unknown id is an error, never a guess."""

from datetime import date

import pytest

from services.escalator.chain import check_chain_targets
from shared.directory.targets import Target, UnknownTarget, resolve_target
from shared.events import RecipientKind
from shared.policy.model import EscalationStep
from tests.unit.routing_support import DIRECTORY, POLICY

DAY = date(2026, 12, 3)


@pytest.mark.parametrize(
    ("agency_id", "kind", "name"),
    [
        ("hart-lead", RecipientKind.HART, "DCF Statewide Human Anti-Trafficking Response Team (HART) Lead"),
        ("fbi-new-haven", RecipientKind.FBI, "FBI New Haven Division"),
        ("csp-hq", RecipientKind.POLICE, "Connecticut State Police Headquarters (fallback)"),
        ("ncmec", RecipientKind.NCMEC, "National Center for Missing & Exploited Children"),
        ("hhs-otip", RecipientKind.HHS, "HHS Office on Trafficking in Persons"),
        ("careline-supervisor", RecipientKind.HART, "DCF Careline on-call supervisor"),
        ("pd-hartford", RecipientKind.POLICE, "Hartford Police Department"),
        ("csp-troop-k", RecipientKind.POLICE, "Connecticut State Police Troop K"),
        ("hart-region-4", RecipientKind.HART, "DCF Region 4 HART Liaison"),
        ("mdt-new-haven", RecipientKind.MDT, "New Haven MDT (South Central Child Advocacy Center)"),
    ],
)
def test_known_ids_resolve_to_their_agency_and_channel(agency_id: str, kind: RecipientKind, name: str) -> None:
    assert resolve_target(agency_id, DIRECTORY, DAY) == Target(agency_id, name, kind)


@pytest.mark.parametrize(
    "agency_id",
    [
        "pd-hartfrod",  # a typo once became a notification to a police agency that does not exist
        "hart-region-9",  # the prefix alone used to pick the HART channel
        "mdt-nowhere",
        "HART-LEAD",  # ids are exact
        " hart-lead",
        "",
    ],
)
def test_unknown_ids_raise_naming_the_id(agency_id: str) -> None:
    with pytest.raises(UnknownTarget, match="unknown escalation target") as caught:
        resolve_target(agency_id, DIRECTORY, DAY)
    assert caught.value.agency_id == agency_id
    assert repr(agency_id) in str(caught.value)


def test_local_agencies_are_known_only_while_the_directory_names_them() -> None:
    """East Lyme's own police department serves the town from 2017-07-01 (State Police before)."""
    with pytest.raises(UnknownTarget):
        resolve_target("pd-east-lyme", DIRECTORY, date(2017, 6, 30))
    assert resolve_target("pd-east-lyme", DIRECTORY, date(2017, 7, 1)).kind is RecipientKind.POLICE


def test_every_chain_of_the_shipped_policy_names_a_known_target() -> None:
    check_chain_targets(POLICY, DIRECTORY, DAY)


def test_a_chain_with_a_typo_stops_the_escalator_at_startup() -> None:
    police = POLICY.recipient_kinds[RecipientKind.POLICE]
    typo = police.model_copy(update={"escalation": [EscalationStep(after_minutes=15, to="csp-hg")]})
    policy = POLICY.model_copy(update={"recipient_kinds": {**POLICY.recipient_kinds, RecipientKind.POLICE: typo}})
    with pytest.raises(UnknownTarget, match="'csp-hg'"):
        check_chain_targets(policy, DIRECTORY, DAY)


# Without a day: any agency the directory holds (the policy check at load).


@pytest.mark.parametrize(
    ("target", "kind"),
    [
        ("hart-lead", RecipientKind.HART),
        ("csp-hq", RecipientKind.POLICE),
        ("careline-supervisor", RecipientKind.HART),
        ("fbi-new-haven", RecipientKind.FBI),
        ("hart-region-4", RecipientKind.HART),  # known only with the directory
        ("pd-groton-long-point", RecipientKind.POLICE),
        ("mdt-greater-bridgeport", RecipientKind.MDT),
        ("csp-troop-d", RecipientKind.POLICE),
    ],
)
def test_known_targets_resolve_with_their_kind_any_day(target: str, kind: RecipientKind) -> None:
    resolved = resolve_target(target, DIRECTORY)
    assert (resolved.agency_id, resolved.kind) == (target, kind)
    assert resolved.name and resolved.name != target


@pytest.mark.parametrize("target", ["csp-hqq", "pd-nowhere", "mdt-atlantis", "hart-region-99", "police"])
def test_unknown_targets_are_refused_any_day(target: str) -> None:
    with pytest.raises(UnknownTarget, match=target):
        resolve_target(target, DIRECTORY)


def test_without_the_directory_only_statewide_agencies_and_roles_resolve_any_day() -> None:
    assert resolve_target("csp-hq").kind is RecipientKind.POLICE
    with pytest.raises(UnknownTarget):
        resolve_target("pd-hartford")
