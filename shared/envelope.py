"""Per-record encryption of report payloads on Kafka: AES-256-GCM envelopes, keys from configuration.

A report names a child, the reporter and what happened; Kafka keeps records for a year and every broker
admin and backup can read them. Intake seals each ReportReceived record: a fresh 96-bit nonce, AES-GCM
over the JSON, the key id in the `encryption-key-id` header and the algorithm in `content-encryption`.
Only a service that needs the fields (the router) opens it, with `open_record(value, headers)`.

Keys: ENVELOPE_KEYS is a JSON object {key id: base64 of 32 random bytes}; ENVELOPE_CURRENT_KEY_ID names the
one new records are sealed with. Rotation: add a new key, make it current, keep the old ones as long as
records sealed with them are retained (the topic's retention), then remove them. The key id is bound into
the authenticated data, so a record cannot be re-labelled with another key id.

Notifications (their payload holds the fields each agency may see) are sealed the same way by `seal_value`,
which frames the key id into the value itself, so a retry tier or a redrive that copies only the value keeps
it openable; `open_value` opens it where the webhook is sent (the notifier) and for redrive.

The Careline's own producer seals what it writes to `careline.reports.inbound.v1` the same way, with
`seal_for_kafka(report_json)` (value and headers for any Kafka client; the format is in docs/asyncapi.yaml for a
producer not written in Python); intake's Kafka way in opens it and, in production, dead-letters a record that
arrives unsealed (`inbound_not_sealed`).

Without ENVELOPE_KEYS (local and test runs only: production refuses to start) records are published in
the clear and `open_record` passes unsealed records through, so the pipeline works before the keys are set.
"""

import base64
import binascii
import functools
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import Environment, current_environment

ALGORITHM = "aes-256-gcm-v1"
ALGORITHM_HEADER = "content-encryption"
KEY_ID_HEADER = "encryption-key-id"
NONCE_BYTES = 12
_AAD_PREFIX = b"careline-envelope-v1|"

Headers = Mapping[str, str | bytes] | Iterable[tuple[str, str | bytes]]


class EnvelopeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ENVELOPE_", extra="ignore")

    keys: SecretStr | None = None  # JSON {"2026-12": "<base64 of 32 bytes>", ...}
    current_key_id: str | None = None


class EnvelopeError(Exception):
    """A record cannot be opened: unknown key id, tampered or truncated ciphertext, or unsealed in production."""


class UnsealedRecord(EnvelopeError):
    """A record without an envelope where production requires one (its contents are in the clear)."""


class KeyringInvalid(ValueError):
    """ENVELOPE_KEYS / ENVELOPE_CURRENT_KEY_ID are not usable; the message names the setting."""


@dataclass(frozen=True)
class Keyring:
    current_key_id: str
    keys: Mapping[str, bytes]

    @classmethod
    def from_settings(cls, settings: EnvelopeSettings | None = None) -> "Keyring | None":
        """None when no keys are configured (local/test: records travel unsealed)."""
        settings = settings or EnvelopeSettings()
        if settings.keys is None:
            if settings.current_key_id:
                raise KeyringInvalid("ENVELOPE_CURRENT_KEY_ID is set but ENVELOPE_KEYS is not")
            return None
        try:
            raw = json.loads(settings.keys.get_secret_value())
        except json.JSONDecodeError:
            raise KeyringInvalid("ENVELOPE_KEYS must be a JSON object {key id: base64 key}") from None
        if not isinstance(raw, dict) or not raw:
            raise KeyringInvalid("ENVELOPE_KEYS must be a non-empty JSON object {key id: base64 key}")
        keys: dict[str, bytes] = {}
        for key_id, encoded in raw.items():
            try:
                key = base64.b64decode(str(encoded), validate=True)
            except (binascii.Error, ValueError):
                raise KeyringInvalid(f"ENVELOPE_KEYS[{key_id!r}] is not base64") from None
            if len(key) != 32:
                raise KeyringInvalid(f"ENVELOPE_KEYS[{key_id!r}] has {len(key)} bytes; AES-256 needs 32")
            keys[str(key_id)] = key
        current = settings.current_key_id or (next(iter(keys)) if len(keys) == 1 else None)
        if current is None or current not in keys:
            raise KeyringInvalid("ENVELOPE_CURRENT_KEY_ID must name one of the keys in ENVELOPE_KEYS")
        return cls(current, keys)


def new_key() -> str:
    """A fresh key for ENVELOPE_KEYS (base64 of 32 random bytes)."""
    return base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()


def _aad(key_id: str) -> bytes:
    return _AAD_PREFIX + key_id.encode()


def seal_record(plaintext: bytes, keyring: Keyring) -> tuple[bytes, dict[str, str]]:
    """The sealed value (nonce || ciphertext+tag) and the headers that must travel with it."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = nonce + AESGCM(keyring.keys[keyring.current_key_id]).encrypt(
        nonce, plaintext, _aad(keyring.current_key_id)
    )
    return sealed, {ALGORITHM_HEADER: ALGORITHM, KEY_ID_HEADER: keyring.current_key_id}


def seal_for_kafka(plaintext: bytes, keyring: Keyring | None = None) -> tuple[bytes, list[tuple[str, bytes]]]:
    """For a producer outside the pipeline (the Careline's, on careline.reports.inbound.v1): the sealed value and
    the headers as a Kafka client sends them, e.g. `producer.send(topic, value, key=report_id, headers=headers)`.
    Keys from ENVELOPE_KEYS unless given: the Careline holds a key of intake's keyring (ideally its own key id)."""
    keyring = keyring or configured_keyring()
    if keyring is None:
        raise KeyringInvalid("ENVELOPE_KEYS is not configured: nothing to seal the record with")
    sealed, headers = seal_record(plaintext, keyring)
    headers = {"content-type": "application/octet-stream", **headers}
    return sealed, [(name, value.encode()) for name, value in headers.items()]


def _header_map(headers: Headers | None) -> dict[str, str]:
    if headers is None:
        return {}
    items = headers.items() if isinstance(headers, Mapping) else headers
    return {str(k).lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in items}


def open_record(
    value: bytes,
    headers: Headers | None,
    keyring: Keyring | None = None,
    *,
    environment: Environment | None = None,
) -> bytes:
    """The plaintext of a record published by `seal_record` (keys from ENVELOPE_KEYS unless given).

    An unsealed record passes through unchanged outside production; in production it is refused."""
    found = _header_map(headers)
    algorithm = found.get(ALGORITHM_HEADER)
    if algorithm is None:
        if (environment or current_environment()) == "production":
            raise UnsealedRecord("unsealed record refused in production")
        return value
    if algorithm != ALGORITHM:
        raise EnvelopeError(f"unknown content-encryption {algorithm!r}")
    keyring = keyring or Keyring.from_settings()
    if keyring is None:
        raise EnvelopeError("sealed record but ENVELOPE_KEYS is not configured")
    key_id = found.get(KEY_ID_HEADER, "")
    key = keyring.keys.get(key_id)
    if key is None:
        raise EnvelopeError(f"no key {key_id!r} in ENVELOPE_KEYS (rotated out too early?)")
    if len(value) <= NONCE_BYTES + 16:
        raise EnvelopeError("sealed record too short")
    try:
        return AESGCM(key).decrypt(value[:NONCE_BYTES], value[NONCE_BYTES:], _aad(key_id))
    except InvalidTag:
        raise EnvelopeError("sealed record failed authentication (tampered, or the wrong key)") from None


# Self-describing sealed values, for records whose headers do not travel with them (a notification is
# re-published to retry tiers and read back for redrive by its value alone): magic, key id, nonce, ciphertext.
VALUE_MAGIC = b"\x00careline-sealed-v1\x00"  # never the start of a JSON document
_VALUE_AAD = b"|value"  # a header-sealed record's bytes cannot be passed off as a sealed value


def seal_value(plaintext: bytes, keyring: Keyring) -> bytes:
    key_id = keyring.current_key_id.encode()
    if len(key_id) > 255:
        raise KeyringInvalid("ENVELOPE_CURRENT_KEY_ID is longer than 255 bytes")
    nonce = os.urandom(NONCE_BYTES)
    aad = _aad(keyring.current_key_id) + _VALUE_AAD
    sealed = AESGCM(keyring.keys[keyring.current_key_id]).encrypt(nonce, plaintext, aad)
    return VALUE_MAGIC + bytes([len(key_id)]) + key_id + nonce + sealed


def is_sealed_value(value: bytes) -> bool:
    return value.startswith(VALUE_MAGIC)


def open_value(value: bytes, keyring: Keyring | None = None, *, environment: Environment | None = None) -> bytes:
    """The plaintext of a `seal_value` record (keys from ENVELOPE_KEYS unless given). An unsealed value passes
    through outside production; in production it is refused (EnvelopeError)."""
    if not is_sealed_value(value):
        if (environment or current_environment()) == "production":
            raise UnsealedRecord("unsealed record refused in production")
        return value
    rest = value[len(VALUE_MAGIC) :]
    if not rest or len(rest) < 1 + rest[0] + NONCE_BYTES + 16:
        raise EnvelopeError("sealed record too short")
    key_id = rest[1 : 1 + rest[0]].decode("utf-8", "replace")
    body = rest[1 + rest[0] :]
    keyring = keyring or configured_keyring()
    if keyring is None:
        raise EnvelopeError("sealed record but ENVELOPE_KEYS is not configured")
    key = keyring.keys.get(key_id)
    if key is None:
        raise EnvelopeError(f"no key {key_id!r} in ENVELOPE_KEYS (rotated out too early?)")
    try:
        return AESGCM(key).decrypt(body[:NONCE_BYTES], body[NONCE_BYTES:], _aad(key_id) + _VALUE_AAD)
    except InvalidTag:
        raise EnvelopeError("sealed record failed authentication (tampered, or the wrong key)") from None


@functools.cache
def configured_keyring() -> Keyring | None:
    """ENVELOPE_KEYS, read once per process (publishing and opening sit on every record's path)."""
    return Keyring.from_settings()


def open_or_poison(value: bytes) -> bytes:
    """`open_value` for a consumer: a record that cannot be opened will never open, so it is poison (dead letter,
    with the reason and never the contents)."""
    from shared.consuming import PoisonMessage  # consuming is the engine's; it needs nothing from here

    try:
        return open_value(value)
    except EnvelopeError as exc:
        raise PoisonMessage("unreadable_envelope", str(exc)) from None
