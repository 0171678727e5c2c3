"""Properties over every valid DMST report for any of the 169 towns (hypothesis)."""

import json
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from devtools.runner.samples import all_town_names
from services.router.outputs import build_notifications, decision_event
from shared.events import CarelineReport, RecipientKind
from tests.unit.routing_support import POLICY, report_for, routed

TOWNS = st.sampled_from(all_town_names())
FORGIVING = st.sampled_from(["{}", "{} ", "town of {}", "{}, CT", "{}, Connecticut"])


@st.composite
def dmst_reports(draw: st.DrawFn) -> CarelineReport:
    residence = draw(FORGIVING).format(draw(TOWNS))
    occurrence = draw(st.lists(TOWNS | st.sampled_from(["Springfield, MA", "Nowhere"]), max_size=4))
    received = draw(
        st.datetimes(min_value=datetime(2014, 1, 1), max_value=datetime(2030, 1, 1), timezones=st.just(UTC))
    )
    secret = "ZQ" + draw(st.text(alphabet="ABCDEFGHJKMNPRTUVWXY", min_size=6, max_size=20))
    return report_for(
        residence,
        occurrence,
        received_at=received.isoformat(),
        missing_or_runaway=draw(st.booleans()),
        child={"foreign_national": draw(st.booleans())},
        reporter={"name": f"Reporter {secret}", "phone": f"555-{secret}"},
        narrative=f"Narrative {secret}",
    )


@settings(max_examples=300, deadline=None)
@given(dmst_reports())
def test_every_dmst_report_reaches_hart_fbi_police_and_an_mdt(report: CarelineReport) -> None:
    decision = routed(report)
    ids = {(r.kind, r.agency.agency_id) for r in decision.recipients}
    assert (RecipientKind.HART, "hart-lead") in ids
    assert (RecipientKind.FBI, "fbi-new-haven") in ids
    assert any(kind is RecipientKind.POLICE for kind, _ in ids)
    mdt = [r for r in decision.recipients if r.kind is RecipientKind.MDT]
    assert mdt and all(r.agency.agency_id.startswith("mdt-") or r.fallback_name == "unknown_mdt" for r in mdt)
    assert len(ids) == len(decision.recipients)


@settings(max_examples=200, deadline=None)
@given(dmst_reports())
def test_the_reporter_is_in_no_payload_and_the_audit_event_holds_no_personal_data(report: CarelineReport) -> None:
    decision = routed(report)
    now = datetime.now(UTC)
    payloads = json.dumps([n.payload for n in build_notifications(report, decision, POLICY, now)])
    audit = decision_event(decision, POLICY, now).model_dump_json()
    secret = report.reporter.name.removeprefix("Reporter ")
    assert secret not in payloads and "reporter" not in payloads and "narrative" not in payloads.lower()
    assert secret not in audit
    assert report.child.first_name not in audit and report.child.last_name not in audit
