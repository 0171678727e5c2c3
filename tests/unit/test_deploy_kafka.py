"""The chart's topics and ACLs (deploy/helm/careline/files/kafka.yaml) are the code's: same topics, and every
subscription a service makes is one its KafkaUser allows."""

from pathlib import Path
from typing import Any

import pytest
import yaml

from devtools.deploy import topics as chart_topics
from devtools.deploy.kafka_access import group_allowed, service_access
from shared.events.notification import RecipientKind
from shared.topics import topic_specs


def test_committed_chart_kafka_file_is_what_the_generator_writes() -> None:
    assert chart_topics.CHART_KAFKA_FILE.read_text() == chart_topics.render(), (
        "deploy/helm/careline/files/kafka.yaml is stale: run `uv run python -m devtools.deploy.topics`"
    )


def test_chart_topics_agree_with_topic_specs() -> None:
    data = yaml.safe_load(chart_topics.CHART_KAFKA_FILE.read_text())
    rf = data["replicationFactor"]
    assert rf == 3
    in_chart = {t["name"]: (t["partitions"], t["config"]) for t in data["topics"]}
    in_code = {s.name: (s.partitions, s.configs) for s in topic_specs(rf)}
    assert in_chart == in_code
    assert all(cfg["min.insync.replicas"] == "2" for _, cfg in in_chart.values())
    assert all(cfg["unclean.leader.election.enable"] == "false" for _, cfg in in_chart.values())


def _recorded_subscriptions(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> dict[str, set[tuple[str, str]]]:
    """Build each consuming service's app and record every consumer it makes (topics, group), without Kafka."""
    from services.escalator import app as escalator_app
    from services.intake import app as intake_app
    from services.notifier import app as notifier_app
    from services.notifier.settings import NotifierSettings
    from services.router import app as router_app
    from shared.stream.engine import StreamConsumer

    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'x.db'}")
    seen: dict[str, set[tuple[str, str]]] = {}
    current = [""]
    original = StreamConsumer.__init__

    def record(self: StreamConsumer, name: str, topics: Any, group_id: str, *args: Any, **kwargs: Any) -> None:
        topics = list(topics)
        seen.setdefault(current[0], set()).update((topic, group_id) for topic in topics)
        original(self, name, topics, group_id, *args, **kwargs)

    monkeypatch.setattr(StreamConsumer, "__init__", record)
    for name, module in (("intake", intake_app), ("router", router_app), ("escalator", escalator_app)):
        current[0] = name
        module.create_app()
    for kind in RecipientKind:  # the chart runs one kind per notifier Deployment
        current[0] = f"notifier-{kind.value}"
        notifier_app.create_app(NotifierSettings(kinds=[kind]))
    return seen


def test_every_subscription_in_the_code_is_allowed_by_its_service_acls(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    access = service_access()
    seen = _recorded_subscriptions(monkeypatch, tmp_path)
    assert {"intake", "router", "escalator"} <= set(seen)
    assert {f"notifier-{k.value}" for k in RecipientKind} <= set(seen)
    refused = [
        (service, topic, group)
        for service, subscriptions in seen.items()
        for topic, group in subscriptions
        if topic not in access[service].reads or not group_allowed(access[service], group)
    ]
    assert refused == []


def test_acls_name_only_the_services_own_topics() -> None:
    data = yaml.safe_load(chart_topics.CHART_KAFKA_FILE.read_text())
    users = data["users"]
    hart = {r["resource"]["name"] for r in users["notifier-hart"]["acls"] if r["resource"]["type"] == "topic"}
    assert "notifications.hart.v1" in hart and not any(".fbi." in t for t in hart)
    acks = {(r["resource"]["name"], tuple(r["operations"])) for r in users["acks"]["acls"]}
    assert acks == {("acknowledgements.v1", ("Describe", "Write"))}
    assert all(r["resource"]["name"] != "*" for user in users.values() for r in user["acls"])
