"""Minimum necessary: the reporter and the narrative never leave the pipeline."""

import json

import pytest

from services.router.payloads import payload_for
from shared.events import CarelineReport, RecipientKind
from shared.runner.samples import sample_report


@pytest.mark.parametrize("kind", list(RecipientKind))
def test_reporter_and_narrative_are_in_no_payload(kind: RecipientKind) -> None:
    report = CarelineReport.model_validate(sample_report("CL-PAY-0001", "Hartford"))
    text = json.dumps(payload_for(report, kind))
    assert report.reporter.name not in text
    assert report.reporter.phone not in text  # type: ignore[operator]
    assert report.narrative not in text
    assert "reporter" not in text and "narrative" not in text


def test_mdt_gets_fewer_fields_than_police() -> None:
    report = CarelineReport.model_validate(sample_report("CL-PAY-0002", "Hartford"))
    mdt, police = payload_for(report, RecipientKind.MDT), payload_for(report, RecipientKind.POLICE)
    assert "alleged_traffickers" in police and "alleged_traffickers" not in mdt
    assert "current_location" in police["child"] and "current_location" not in mdt["child"]
