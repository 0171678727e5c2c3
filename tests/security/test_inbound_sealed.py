"""The Careline's inbound topic carries sealed reports: intake's Kafka way in opens them, and in production an
unsealed record is poison (dead-lettered as `inbound_not_sealed`, the dead letter holding no contents) while the
partition keeps flowing. Real envelope code, the real poison rules (shared/consuming.py `reliably`); the broker
records what would be published. The same on the real broker: test_inbound_sealed_broker.py.
"""

import asyncio
import base64
import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from devtools.runner.samples import sample_report
from services.intake.inbound import NOT_SEALED, UNREADABLE, make_inbound_processor
from shared.consuming import reliably
from shared.envelope import ALGORITHM_HEADER, Keyring, KeyringInvalid, new_key, open_record, seal_for_kafka
from shared.settings import Environment, KafkaSettings
from shared.topics import CARELINE_INBOUND, DEAD_LETTERS, REPORTS
from tests.security.probe import tried


def _keyring() -> Keyring:
    return Keyring("careline-1", {"careline-1": base64.b64decode(new_key())})


@dataclass
class RecordingBroker:
    """What `broker.publish` was asked to send, in order (the shape FastStream's KafkaBroker.publish takes)."""

    sent: list[tuple[str, bytes, dict[str, str]]] = field(default_factory=list)

    async def publish(self, value: bytes, topic: str, *, key: bytes, headers: dict[str, str]) -> None:
        self.sent.append((topic, value, headers))


def _report(tag: str) -> tuple[dict[str, Any], list[str]]:
    report = sample_report(f"CL-INB-{tag}-{uuid.uuid4().hex[:6].upper()}", "Hartford")
    report["received_at"] = datetime.now(UTC).isoformat()
    report["narrative"] = f"Seeded inbound narrative {uuid.uuid4().hex}"
    personal = [report["child"]["first_name"], report["child"]["last_name"], report["narrative"]]
    return report, personal


def _record(offset: int, value: bytes, headers: list[tuple[str, bytes]]) -> ConsumerRecord[bytes, bytes]:
    return ConsumerRecord(CARELINE_INBOUND, 0, offset, 0, 0, b"CL", value, None, 2, len(value), headers)


async def _run(
    environment: Environment, keyring: Keyring | None, records: list[ConsumerRecord[bytes, bytes]]
) -> RecordingBroker:
    broker = RecordingBroker()
    process = make_inbound_processor(broker, KafkaSettings(), keyring, environment)  # type: ignore[arg-type]
    handle = reliably(process, broker, DEAD_LETTERS, asyncio.Event())  # type: ignore[arg-type]
    for record in records:
        await handle(record)  # returns: the engine may commit past it (nothing is retried forever)
    return broker


async def test_production_dead_letters_an_unsealed_inbound_record_and_keeps_flowing() -> None:
    ring = _keyring()
    clear, personal = _report("CLEAR")
    sealed_report, _ = _report("SEALED")
    value, headers = seal_for_kafka(json.dumps(sealed_report).encode(), ring)
    broker = await _run("production", ring, [_record(0, json.dumps(clear).encode(), []), _record(1, value, headers)])
    tried(
        "production: an unsealed inbound report, then a sealed one",
        [
            (topic, json.loads(v) if topic == DEAD_LETTERS else f"{len(v)} sealed bytes", h)
            for topic, v, h in broker.sent
        ],
    )
    assert [topic for topic, _, _ in broker.sent] == [DEAD_LETTERS, REPORTS]
    letter_bytes = broker.sent[0][1]
    letter = json.loads(letter_bytes)
    assert (
        letter["reason"] == NOT_SEALED and letter["source_topic"] == CARELINE_INBOUND and letter["source_offset"] == 0
    )
    assert letter["original_value_b64"] is None and letter["original_sha256"]
    assert not [s for s in personal if s in letter_bytes.decode()]  # the reason, size and hash; not the report
    # ...and the sealed one went on, sealed again by intake, opened by the router's open_record.
    _, out, out_headers = broker.sent[1]
    assert out_headers[ALGORITHM_HEADER] and sealed_report["narrative"].encode() not in out
    opened = json.loads(open_record(out, out_headers, ring, environment="production"))
    assert opened["report"]["careline_report_id"] == sealed_report["careline_report_id"]


async def test_a_tampered_or_foreign_sealed_record_is_poison_with_its_reason() -> None:
    ring, other = _keyring(), _keyring()
    report, personal = _report("TAMPER")
    value, headers = seal_for_kafka(json.dumps(report).encode(), ring)
    flipped = value[:-1] + bytes([value[-1] ^ 1])
    foreign, foreign_headers = seal_for_kafka(json.dumps(report).encode(), other)
    broker = await _run("production", ring, [_record(0, flipped, headers), _record(1, foreign, foreign_headers)])
    letters = [json.loads(v) for _, v, _ in broker.sent]
    tried(
        "a sealed record with one bit flipped, one sealed with another key",
        [(x["reason"], x["detail"]) for x in letters],
    )
    assert [x["reason"] for x in letters] == [UNREADABLE, UNREADABLE]
    assert "failed authentication" in letters[0]["detail"] and "failed authentication" in letters[1]["detail"]
    assert not [s for s in personal for _, v, _ in broker.sent if s in v.decode()]


@pytest.mark.parametrize("environment", ["local", "test"])
async def test_local_and_test_still_pass_an_unsealed_inbound_record(environment: Environment) -> None:
    report, _ = _report("DEV")
    broker = await _run(environment, None, [_record(0, json.dumps(report).encode(), [])])
    tried(f"{environment}, no ENVELOPE_KEYS: an unsealed inbound report", [(t, h) for t, _, h in broker.sent])
    assert [topic for topic, _, _ in broker.sent] == [REPORTS]  # the explicit development convenience


def test_seal_for_kafka_needs_a_keyring(monkeypatch: pytest.MonkeyPatch) -> None:
    from shared import envelope

    monkeypatch.delenv("ENVELOPE_KEYS", raising=False)
    envelope.configured_keyring.cache_clear()
    try:
        with pytest.raises(KeyringInvalid, match="ENVELOPE_KEYS is not configured") as refused:
            seal_for_kafka(b"{}")
    finally:
        envelope.configured_keyring.cache_clear()
    tried("seal_for_kafka without ENVELOPE_KEYS", str(refused.value))
