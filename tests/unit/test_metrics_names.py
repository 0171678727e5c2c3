"""Every service's metrics follow Prometheus conventions and carry no personal or unbounded labels."""

import importlib
import re

import pytest
from prometheus_client import REGISTRY

MODULES = [
    "services.intake.metrics",
    "services.router.metrics",
    "services.notifier.metrics",
    "services.acks.metrics",
    "services.ops.metrics",
]
PREFIXES = ("intake_", "router_", "notifier_", "acks_", "ops_", "escalator_")
FORBIDDEN_LABELS = {
    "report_id",
    "notification_id",
    "careline_report_id",
    "webhook_id",
    "name",
    "first_name",
    "last_name",
    "date_of_birth",
    "address",
    "town",
    "narrative",
    "reporter",
    "phone",
    "error",
    "detail",
}
SNAKE = re.compile(r"^[a-z][a-z0-9_]*$")


def _families() -> list[tuple[str, str, set[str]]]:
    for module in MODULES:
        importlib.import_module(module)
    found = []
    for family in REGISTRY.collect():
        if family.name.startswith(PREFIXES):
            labels = {k for s in family.samples for k in s.labels} - {"le", "quantile"}
            found.append((family.name, family.type, labels))
    return found


def test_every_service_registers_metrics() -> None:
    names = {name for name, _, _ in _families()}
    for prefix in ("intake_", "router_", "notifier_", "acks_", "ops_"):
        assert any(n.startswith(prefix) for n in names), prefix


@pytest.mark.parametrize("name,kind,labels", _families())
def test_metric_follows_prometheus_conventions(name: str, kind: str, labels: set[str]) -> None:
    assert SNAKE.match(name), name
    if kind == "counter":
        # prometheus_client strips _total from the family name; samples are exported with it
        assert not name.endswith("_total"), name
    if kind == "histogram":
        assert name.endswith("_seconds"), f"{name}: durations in base units (seconds)"
    assert not re.search(r"_(ms|milliseconds|minutes|hours)$", name), name
    assert not labels & FORBIDDEN_LABELS, f"{name} has personal or unbounded labels {labels & FORBIDDEN_LABELS}"
    assert all(SNAKE.match(label) for label in labels), labels


def test_counters_are_exposed_with_total_suffix() -> None:
    from prometheus_client import generate_latest

    from services.notifier.metrics import DELIVERY_ATTEMPTS

    DELIVERY_ATTEMPTS.labels("hart", "delivered")
    text = generate_latest().decode()
    assert "notifier_delivery_attempts_total{" in text
