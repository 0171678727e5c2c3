"""The Grafana dashboard is generated from code, and every metric it queries exists in some service."""

import importlib.util
import json
import re
from pathlib import Path

from prometheus_client import REGISTRY

import services.acks.metrics
import services.intake.metrics
import services.notifier.metrics
import services.ops.metrics
import services.router.metrics  # noqa: F401  (registers the metrics)

ROOT = Path(__file__).resolve().parents[2]
BUILDER = ROOT / "deploy" / "grafana" / "build_dashboard.py"


def _builder():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("build_dashboard", BUILDER)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_dashboard_matches_its_code() -> None:
    builder = _builder()
    assert builder.OUT.read_text() == builder.render(), "run: uv run python deploy/grafana/build_dashboard.py"


def test_every_queried_metric_is_exported() -> None:
    exported = set()
    for family in REGISTRY.collect():
        exported |= {sample.name for sample in family.samples} | {family.name}
        if family.type == "counter":
            exported.add(f"{family.name}_total")  # a labelled counter has no samples until first used
    exported |= {f"{n}_bucket" for n in list(exported)} | {"up"}
    queried = set()
    for p in json.loads((ROOT / "deploy/grafana/dashboards/careline.json").read_text())["panels"]:
        for target in p["targets"]:
            queried |= set(re.findall(r"\b((?:intake|router|notifier|acks|ops)_[a-z_]+)\b", target["expr"]))
    assert queried and queried <= exported, queried - exported
