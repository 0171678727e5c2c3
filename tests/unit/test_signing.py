"""Standard Webhooks signing: round trip, tampering, stale timestamps, secret rotation."""

from datetime import UTC, datetime, timedelta

import pytest

from shared.signing import SignatureInvalid, derive_dev_secret, sign_headers, verify_signature

OLD = derive_dev_secret("seed", "webhook", "pd-hartford")
NEW = derive_dev_secret("seed", "webhook-rotated", "pd-hartford")
BODY = b'{"notification_id":"ntf_1"}'


def test_round_trip() -> None:
    verify_signature([OLD], BODY, sign_headers([OLD], "ntf_1", BODY))


@pytest.mark.parametrize(
    "tamper",
    [
        lambda h, b: (h, b + b" "),
        lambda h, b: ({**h, "webhook-id": "ntf_2"}, b),
        lambda h, b: ({**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}, b),
        lambda h, b: ({k: v for k, v in h.items() if k != "webhook-signature"}, b),
        lambda h, b: ({**h, "webhook-signature": "garbage"}, b),
    ],
)
def test_tampering_is_refused(tamper) -> None:  # type: ignore[no-untyped-def]
    headers, body = tamper(sign_headers([OLD], "ntf_1", BODY), BODY)
    with pytest.raises(SignatureInvalid):
        verify_signature([OLD], body, headers)


def test_stale_timestamp_is_refused() -> None:
    headers = sign_headers([OLD], "ntf_1", BODY, now=datetime.now(UTC) - timedelta(minutes=6))
    with pytest.raises(SignatureInvalid, match="too old"):
        verify_signature([OLD], BODY, headers)


def test_rotation_sender_signs_with_both_receiver_accepts_either() -> None:
    headers = sign_headers([OLD, NEW], "ntf_1", BODY)
    verify_signature([NEW], BODY, headers)
    verify_signature([OLD], BODY, headers)


def test_wrong_secret_is_refused() -> None:
    with pytest.raises(SignatureInvalid):
        verify_signature([NEW], BODY, sign_headers([OLD], "ntf_1", BODY))


def test_dev_secrets_differ_per_agency_and_purpose() -> None:
    secrets = {derive_dev_secret("s", p, a) for p in ("webhook", "ack") for a in ("a", "b")}
    assert len(secrets) == 4
