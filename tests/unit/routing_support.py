"""Shared builders for the routing tests: the real policy and directory, and report shapes."""

from pathlib import Path
from typing import Any

from devtools.runner.samples import sample_report
from services.router.decision import RoutingDecision, route_report
from shared.directory.directory import load_directory
from shared.events import CarelineReport
from shared.policy.loader import load_policy

DIRECTORY = load_directory()
POLICY = load_policy(DIRECTORY.towns)


def report_for(town: str, occurrence: list[str] | None = None, **overrides: Any) -> CarelineReport:
    data = sample_report("CL-TEST-0001", town, occurrence_towns=occurrence)
    child = overrides.pop("child", {})
    data["child"].update(child)
    data.update(overrides)
    return CarelineReport.model_validate(data)


def routed(report: CarelineReport, policy_file: Path | None = None) -> RoutingDecision:
    policy = load_policy(DIRECTORY.towns, policy_file) if policy_file else POLICY
    return route_report(report, policy, DIRECTORY)


def agencies(decision: RoutingDecision, kind: str) -> list[str]:
    return [r.agency.agency_id for r in decision.recipients if r.kind.value == kind]
