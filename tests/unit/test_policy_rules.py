"""Each rule kind of the policy language, as a table: a policy snippet, a report, the expected recipients."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from shared.policy.loader import PolicyInvalid, load_policy
from tests.unit.routing_support import DIRECTORY, agencies, report_for, routed

SHIPPED = Path(__file__).resolve().parents[2] / "shared" / "policy" / "policy.yaml"


def policy_with(tmp_path: Path, routes: list[dict[str, Any]], default: list[dict[str, Any]] | None = None) -> Path:
    data = yaml.safe_load(SHIPPED.read_text())
    data["route"]["routes"] = routes
    if default is not None:
        data["route"]["recipients"] = default
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def fbi(name: str, match: dict[str, Any], **extra: Any) -> dict[str, Any]:
    spec = {"kind": "fbi", "agency": "fbi-new-haven", "clock": "federal", "reason": "test"}
    return {"name": name, "match": match, "recipients": [spec], **extra}


NCMEC = {"kind": "ncmec", "agency": "ncmec", "clock": "federal", "reason": "test"}

CASES = [
    # (matchers, report overrides, matched?)
    ({"classification": ["dmst"]}, {}, True),
    ({"classification": ["labor_trafficking"]}, {}, False),
    ({"missing_or_runaway": True}, {"missing_or_runaway": True}, True),
    ({"missing_or_runaway": True}, {}, False),
    ({"child.foreign_national": True}, {"child": {"foreign_national": True}}, True),
    ({"child.foreign_national": True}, {}, False),
    ({"age_min": 16}, {"child": {"date_of_birth": "2010-01-01"}, "received_at": "2026-01-01T00:00:00+00:00"}, True),
    ({"age_min": 17}, {"child": {"date_of_birth": "2010-01-02"}, "received_at": "2026-01-01T00:00:00+00:00"}, False),
    ({"age_max": 15}, {"child": {"date_of_birth": "2010-01-02"}, "received_at": "2026-01-01T00:00:00+00:00"}, True),
    ({"age_max": 15}, {"child": {"date_of_birth": "2010-01-01"}, "received_at": "2026-01-01T00:00:00+00:00"}, False),
    ({"residence_town": ["Hartford"]}, {}, True),
    ({"residence_town": ["New Haven"]}, {}, False),
    ({"occurrence_town": ["New Haven"]}, {"occurrence_towns": ["new haven, ct"]}, True),
    ({"occurrence_town": ["New Haven"]}, {}, False),
]


@pytest.mark.parametrize(("match", "overrides", "matched"), CASES)
def test_each_matcher(tmp_path: Path, match: dict[str, Any], overrides: dict[str, Any], matched: bool) -> None:
    path = policy_with(tmp_path, [fbi("rule", match)])
    decision = routed(report_for("Hartford", **overrides), path)
    assert (decision.matched_rules == ("rule",)) is matched
    assert agencies(decision, "fbi") == (["fbi-new-haven"] if matched else [])


def test_first_match_stops_without_continue(tmp_path: Path) -> None:
    path = policy_with(tmp_path, [fbi("a", {}), {"name": "b", "recipients": [NCMEC]}])
    assert routed(report_for("Hartford"), path).matched_rules == ("a",)


def test_continue_lets_later_siblings_match(tmp_path: Path) -> None:
    path = policy_with(tmp_path, [fbi("a", {}, **{"continue": True}), {"name": "b", "recipients": [NCMEC]}])
    decision = routed(report_for("Hartford"), path)
    assert decision.matched_rules == ("a", "b") and agencies(decision, "ncmec") == ["ncmec"]


def test_nested_routes_take_the_deepest_match(tmp_path: Path) -> None:
    child = {"name": "child", "match": {"missing_or_runaway": True}, "recipients": [NCMEC]}
    path = policy_with(tmp_path, [fbi("parent", {"classification": ["dmst"]}, routes=[child])])
    assert routed(report_for("Hartford", missing_or_runaway=True), path).matched_rules == ("child",)
    assert routed(report_for("Hartford"), path).matched_rules == ("parent",)


def test_default_route_is_marked_fallback(tmp_path: Path) -> None:
    path = policy_with(tmp_path, [fbi("never", {"classification": ["other"]})])
    decision = routed(report_for("Hartford"), path)
    assert [(r.agency.agency_id, r.fallback_name) for r in decision.recipients] == [("hart-lead", "default_route")]


def test_a_policy_naming_nobody_still_reaches_the_hart_lead(tmp_path: Path) -> None:
    path = policy_with(tmp_path, [], default=[])
    decision = routed(report_for("Hartford"), path)
    assert [(r.kind.value, r.agency.agency_id, r.fallback_name) for r in decision.recipients] == [
        ("hart", "hart-lead", "unrouted")
    ]


INVALID = [
    ('version: "2026-11-23.1"\n', "version", "2026-11-23.x", "version"),
    ("    ack_sla_minutes: 15\n", "ack_sla_minutes: 15", "ack_sla_minutes: -5", "ack_sla_minutes"),
    ("  unknown_mdt: hart-lead", "unknown_mdt: hart-lead", "unknown_mdt: mdt-nowhere", "unknown agency"),
    ("- {kind: fbi, agency: fbi-new-haven, clock: federal", "clock: federal", "clock: lunar", "unknown clock"),
    ("- {after_minutes: 15, to: csp-hq}", "to: csp-hq", "to: csp-hqq", "unknown escalation target 'csp-hqq'"),
    ("- {after_minutes: 60, to: careline-supervisor}", "supervisor", "supervisr", "unknown escalation"),
    (
        "[careline_report_id, received_at, classification, priority, missing_or_runaway,\n",
        "priority",
        "reporter",
        "may never be sent",
    ),
]


@pytest.mark.parametrize(("anchor", "old", "new", "problem"), INVALID)
def test_an_invalid_policy_names_the_line_and_the_problem(
    tmp_path: Path, anchor: str, old: str, new: str, problem: str
) -> None:
    text = SHIPPED.read_text()
    line = next(i for i, t in enumerate(text.splitlines(keepends=True), 1) if anchor.strip() in t and old in t)
    lines = text.splitlines(keepends=True)
    lines[line - 1] = (
        lines[line - 1].replace(old, new, 1) if old != "version" else lines[line - 1].replace("2026-11-23.1", new)
    )
    path = tmp_path / "policy.yaml"
    path.write_text("".join(lines))
    with pytest.raises(PolicyInvalid) as err:
        load_policy(DIRECTORY.towns, path)
    assert f"line {line}:" in str(err.value) and problem in str(err.value), str(err.value)


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text('version: "x"\nclocks: [unclosed\n')
    with pytest.raises(PolicyInvalid, match="line 3: not valid YAML"):
        load_policy(DIRECTORY.towns, path)


def test_an_unknown_town_in_a_matcher_is_refused(tmp_path: Path) -> None:
    path = policy_with(tmp_path, [fbi("rule", {"residence_town": ["Springfield"]})])
    with pytest.raises(PolicyInvalid, match="'Springfield' is not one of the 169"):
        load_policy(DIRECTORY.towns, path)
