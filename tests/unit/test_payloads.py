"""Minimum necessary: the policy's allow-lists apply, and the reporter and narrative never leave the pipeline."""

import json

import pytest

from services.router.payloads import payload_for
from shared.events import RecipientKind
from shared.policy.model import KindPolicy
from tests.unit.routing_support import POLICY, report_for


@pytest.mark.parametrize("kind", list(RecipientKind))
def test_reporter_and_narrative_are_in_no_payload(kind: RecipientKind) -> None:
    report = report_for("Hartford")
    text = json.dumps(payload_for(report, POLICY.recipient_kinds[kind]))
    assert report.reporter.name not in text
    assert report.reporter.phone not in text  # type: ignore[operator]
    assert report.narrative not in text
    assert "reporter" not in text and "narrative" not in text


def test_code_drops_the_reporter_even_if_an_allow_list_names_it() -> None:
    sneaky = KindPolicy.model_construct(
        fields=["careline_report_id", "reporter", "narrative"], child_fields=["first_name"], ack_sla_minutes=1
    )
    assert payload_for(report_for("Hartford"), sneaky).keys() == {"careline_report_id", "child"}


def test_mdt_gets_fewer_fields_than_police() -> None:
    report = report_for("Hartford")
    mdt = payload_for(report, POLICY.recipient_kinds[RecipientKind.MDT])
    police = payload_for(report, POLICY.recipient_kinds[RecipientKind.POLICE])
    assert "alleged_traffickers" in police and "alleged_traffickers" not in mdt
    assert "current_location" in police["child"] and "current_location" not in mdt["child"]


def test_only_hhs_receives_foreign_national_status() -> None:
    report = report_for("Hartford", child={"foreign_national": True})
    holders = {
        k for k in RecipientKind if "foreign_national" in payload_for(report, POLICY.recipient_kinds[k])["child"]
    }
    assert holders == {RecipientKind.HHS}
