"""Report payloads on Kafka: AES-256-GCM per record, key id in a header, rotation, tamper-evident."""

import json

import pytest

from shared.envelope import (
    ALGORITHM_HEADER,
    KEY_ID_HEADER,
    EnvelopeError,
    EnvelopeSettings,
    Keyring,
    KeyringInvalid,
    new_key,
    open_or_poison,
    open_record,
    open_value,
    seal_record,
    seal_value,
)
from tests.security.probe import tried

REPORT = json.dumps({"child": {"first_name": "Jane", "last_name": "Doe"}, "narrative": "at 12 Oak St"}).encode()


def _ring(current: str, **keys: str) -> Keyring:
    ring = Keyring.from_settings(EnvelopeSettings(keys=json.dumps(keys), current_key_id=current))
    assert ring is not None
    return ring


def test_sealed_record_holds_no_clear_text_and_opens_with_its_key() -> None:
    ring = _ring("k1", k1=new_key())
    sealed, headers = seal_record(REPORT, ring)
    tried("seal_record(report JSON)", {"headers": headers, "value[:24]": sealed[:24].hex(), "len": len(sealed)})
    assert headers == {ALGORITHM_HEADER: "aes-256-gcm-v1", KEY_ID_HEADER: "k1"}
    for clear in (b"Jane", b"Doe", b"Oak", b"narrative"):
        assert clear not in sealed
    kafka_headers = [(k, v.encode()) for k, v in headers.items()]  # as aiokafka hands them over
    assert open_record(sealed, kafka_headers, ring) == REPORT
    assert seal_record(REPORT, ring)[0] != sealed  # a fresh nonce per record


def test_rotation_old_records_still_open_new_ones_use_the_new_key() -> None:
    old, new = new_key(), new_key()
    sealed_old, headers_old = seal_record(REPORT, _ring("2026-11", **{"2026-11": old}))
    rotated = _ring("2026-12", **{"2026-11": old, "2026-12": new})
    sealed_new, headers_new = seal_record(REPORT, rotated)
    assert headers_new[KEY_ID_HEADER] == "2026-12"
    assert open_record(sealed_old, headers_old, rotated) == open_record(sealed_new, headers_new, rotated) == REPORT
    with pytest.raises(EnvelopeError, match="no key '2026-11'"):
        open_record(sealed_old, headers_old, _ring("2026-12", **{"2026-12": new}))


def test_tampering_or_relabelling_is_detected() -> None:
    ring = _ring("a", a=new_key(), b=new_key())
    sealed, headers = seal_record(REPORT, ring)
    flipped = sealed[:-1] + bytes([sealed[-1] ^ 1])
    with pytest.raises(EnvelopeError, match="failed authentication"):
        open_record(flipped, headers, ring)
    with pytest.raises(EnvelopeError, match="failed authentication"):
        open_record(sealed, {**headers, KEY_ID_HEADER: "b"}, ring)
    tried("a flipped bit; the key id header changed to another key", "both refused")


def test_unsealed_records_pass_only_outside_production() -> None:
    assert open_record(REPORT, {"content-type": "application/json"}, None, environment="test") == REPORT
    with pytest.raises(EnvelopeError, match="unsealed record refused in production"):
        open_record(REPORT, {}, None, environment="production")


@pytest.mark.parametrize(
    ("keys", "current", "message"),
    [
        ("not json", None, "must be a JSON object"),
        (json.dumps({"k": "!!"}), None, "is not base64"),
        (json.dumps({"k": new_key(), "j": new_key()}), None, "ENVELOPE_CURRENT_KEY_ID must name"),
        (json.dumps({"k": new_key()}), "other", "ENVELOPE_CURRENT_KEY_ID must name"),
    ],
)
def test_bad_keyrings_are_refused_by_name(keys: str, current: str | None, message: str) -> None:
    with pytest.raises(KeyringInvalid, match=message):
        Keyring.from_settings(EnvelopeSettings(keys=keys, current_key_id=current))


def test_sealed_values_carry_their_key_id_and_refuse_tampering_swaps_and_clear_text_in_production() -> None:
    """Notifications: sealed into the value itself, so a retry tier or a redrive that copies only the value keeps
    it openable; rotation works by the key id framed in it."""
    old, new = new_key(), new_key()
    before = seal_value(REPORT, _ring("k1", k1=old))
    after = seal_value(REPORT, _ring("k2", k1=old, k2=new))
    rotated = _ring("k2", k1=old, k2=new)
    tried("seal_value with k1, then with k2 current", {"clear text in value": b"Jane" in before + after})
    assert b"Jane" not in before + after and b"Oak St" not in before + after
    assert open_value(before, rotated) == open_value(after, rotated) == REPORT  # old records still open
    tampered = before[:-1] + bytes([before[-1] ^ 1])
    with pytest.raises(EnvelopeError, match="failed authentication"):
        open_value(tampered, rotated)
    with pytest.raises(EnvelopeError, match="no key 'k2'"):
        open_value(after, _ring("k1", k1=old))
    report_sealed, _ = seal_record(REPORT, _ring("k1", k1=old))  # a report's bytes passed off as a sealed value
    from shared.envelope import VALUE_MAGIC

    with pytest.raises(EnvelopeError, match="failed authentication"):
        open_value(VALUE_MAGIC + bytes([2]) + b"k1" + report_sealed, rotated)
    assert open_value(b'{"plain": 1}', rotated, environment="test") == b'{"plain": 1}'
    with pytest.raises(EnvelopeError, match="unsealed record refused in production"):
        open_value(b'{"plain": 1}', rotated, environment="production")
    from shared.consuming import PoisonMessage

    with pytest.raises(PoisonMessage) as poison:
        open_or_poison(tampered)
    assert poison.value.reason == "unreadable_envelope" and "Jane" not in str(poison.value)
