"""Escalation targets resolve exactly to an agency and its kind; an unknown id is an error, not a police agency."""

import pytest

from shared.directory.targets import UnknownTarget, resolve_target
from shared.events import RecipientKind
from tests.unit.routing_support import DIRECTORY


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
def test_known_targets_resolve_with_their_kind(target: str, kind: RecipientKind) -> None:
    resolved = resolve_target(target, DIRECTORY)
    assert (resolved.agency_id, resolved.kind) == (target, kind)
    assert resolved.name and resolved.name != target


@pytest.mark.parametrize("target", ["csp-hqq", "pd-nowhere", "mdt-atlantis", "hart-region-99", "police"])
def test_unknown_targets_are_refused(target: str) -> None:
    with pytest.raises(UnknownTarget, match=target):
        resolve_target(target, DIRECTORY)


def test_without_the_directory_only_statewide_agencies_and_roles_resolve() -> None:
    assert resolve_target("csp-hq").kind is RecipientKind.POLICE
    with pytest.raises(UnknownTarget):
        resolve_target("pd-hartford")
