"""The published contracts under docs/ are what the code does: regenerated and compared byte for byte, the
AsyncAPI document parsed by FastStream's AsyncAPI 3 model, and the webhook example verified three ways."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml
from faststream.specification.asyncapi.v3_0_0.schema import ApplicationSchema

from devtools.contracts import CONTRACTS_DIR
from devtools.contracts.__main__ import CONTRACTS, DOCS
from devtools.contracts.webhooks import EXAMPLE_ACK_SECRET, EXAMPLE_SECRET, EXAMPLE_TIME, VERIFY_PY, example
from shared.events import AckRequest, Notification
from shared.signing import SignatureInvalid, verify_signature
from shared.topics import topic_specs


@pytest.mark.parametrize("name", sorted(CONTRACTS))
def test_committed_contract_matches_the_code(name: str) -> None:
    assert CONTRACTS_DIR == DOCS
    committed = (DOCS / name).read_text() if (DOCS / name).exists() else ""
    assert committed == CONTRACTS[name](), f"docs/{name} is stale: run `uv run python -m devtools.contracts`"


def test_asyncapi_document_is_asyncapi_3_and_lists_every_topic() -> None:
    doc = yaml.safe_load((DOCS / "asyncapi.yaml").read_text())
    # FastStream's model insists on `servers.*.pathname`, optional in AsyncAPI 3 (and meaningless for Kafka).
    parsed = ApplicationSchema.model_validate({**doc, "servers": None})
    assert {"host", "protocol"} <= set(doc["servers"]["production"])
    assert parsed.asyncapi == "3.0.0"
    addresses = {c["address"]: c for c in doc["channels"].values()}
    assert set(addresses) == {s.name for s in topic_specs()}
    for spec in topic_specs(3):
        assert addresses[spec.name]["bindings"]["kafka"]["partitions"] == spec.partitions
    refs = {ref for c in doc["components"]["messages"].values() for ref in [c["payload"]["$ref"]]}
    assert {r.rsplit("/", 1)[1] for r in refs} <= set(doc["components"]["schemas"])
    receives = [op for op in doc["operations"].values() if op["action"] == "receive"]
    assert any(op["channel"]["$ref"] == "#/channels/careline-reports-v1" for op in receives)


def _verify(headers: dict[str, str], body: bytes, secret: str, now: float) -> bool:
    namespace: dict[str, Any] = {}
    exec(VERIFY_PY, namespace)  # noqa: S102 -- our own constant: the exact code docs/webhooks.md gives agencies
    return bool(namespace["verify"](secret, headers, body, now))


def test_webhook_example_verifies_with_the_documented_code_and_the_pipeline_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ex = example()
    now = EXAMPLE_TIME.timestamp() + 30
    assert _verify(ex["headers"], ex["body"], EXAMPLE_SECRET, now)
    assert not _verify(ex["headers"], ex["body"] + b" ", EXAMPLE_SECRET, now)
    assert not _verify(ex["headers"], ex["body"], EXAMPLE_ACK_SECRET, now)
    assert not _verify(ex["headers"], ex["body"], EXAMPLE_SECRET, now + 600)
    Notification.model_validate_json(ex["body"])
    assert ex["headers"]["webhook-id"] == json.loads(ex["body"])["notification_id"]

    # The acks service's own check (shared.signing) accepts the documented acknowledgement at its time.
    import standardwebhooks.webhooks as sw

    class Frozen(datetime):
        @classmethod
        def now(cls, tz: Any = None) -> "Frozen":
            return cls.fromtimestamp((EXAMPLE_TIME + timedelta(minutes=3, seconds=10)).timestamp(), tz or UTC)

    monkeypatch.setattr(sw, "datetime", Frozen)
    AckRequest.model_validate_json(ex["ack_body"])
    verify_signature([EXAMPLE_ACK_SECRET], ex["ack_body"], ex["ack_headers"])
    with pytest.raises(SignatureInvalid):
        verify_signature([EXAMPLE_SECRET], ex["ack_body"], ex["ack_headers"])


def test_webhooks_md_shows_the_example_signature() -> None:
    text = (DOCS / "webhooks.md").read_text()
    ex = example()
    assert ex["headers"]["webhook-signature"] in text
    assert ex["body"].decode() in text
