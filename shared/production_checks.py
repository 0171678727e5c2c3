"""Refuse to start in production with a configuration that would open a door.

Every service calls `enforce_startup_checks(<service>)` first thing in its `main()`. Outside production only
ENVIRONMENT itself is required; in production each problem below is listed, naming the setting, and the
service exits:

- a development-derived agency secret or the committed one-click link secret (anyone could forge with them);
- PLAINTEXT or SASL_PLAINTEXT Kafka (reports would cross the network in the clear);
- a database URL that is not PostgreSQL with TLS required (sslmode=require|verify-ca|verify-full, or ssl=...);
- an agency webhook URL that is not https;
- topics replicated fewer than 3 times;
- a secret with fewer than 24 random bytes;
- one secret used by two agencies, or for two purposes (webhook vs acknowledgement vs link);
- no (or an unusable) ENVELOPE_KEYS keyring: report payloads would sit on Kafka in the clear;
- no METRICS_TOKEN (or METRICS_OPEN set): /metrics would answer anyone (shared/metrics_access.py).
"""

import base64
import binascii
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from shared.envelope import EnvelopeSettings, Keyring, KeyringInvalid
from shared.metrics_access import MetricsSettings, metrics_problems
from shared.settings import (
    ConfigurationRefused,
    DatabaseSettings,
    Environment,
    KafkaSettings,
    SecretsSettings,
    current_environment,
)
from shared.signing import derive_dev_secret

MIN_SECRET_BYTES = 24
MIN_REPLICATION_FACTOR = 3
DEV_SEED = "local-development-only-not-a-secret"
_DB_TLS_MODES = {"require", "verify-ca", "verify-full"}
_ASYNCPG_TLS_MODES = {"require", "verify-ca", "verify-full", "true"}


@dataclass(frozen=True)
class Secret:
    """One configured secret, where it came from (the setting's name) and what it is for."""

    setting: str
    purpose: str  # webhook | ack | link
    owner: str  # agency id, or "link"
    value: str


def secret_bytes(value: str) -> bytes:
    """The key material a secret stands for: Standard Webhooks secrets are base64 after `whsec_`; others are
    base64, hex or, failing both, their UTF-8 bytes."""
    text = value.removeprefix("whsec_")
    for decode in (base64.b64decode, base64.urlsafe_b64decode):
        try:
            return decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            pass
    try:
        return bytes.fromhex(text)
    except ValueError:
        return text.encode()


def weak_secret_problem(setting: str, value: str) -> str | None:
    """Under 24 bytes, or visibly not random (few distinct bytes, e.g. 'aaaa...' or '0101...')."""
    raw = secret_bytes(value)
    if len(raw) < MIN_SECRET_BYTES:
        return f"{setting}: secret has {len(raw)} bytes, at least {MIN_SECRET_BYTES} random bytes are required"
    if len(set(raw)) < 12:
        return f"{setting}: secret is not random ({len(set(raw))} distinct bytes in {len(raw)})"
    return None


def kafka_problems(kafka: KafkaSettings) -> list[str]:
    problems = []
    if kafka.security_protocol in ("PLAINTEXT", "SASL_PLAINTEXT"):
        problems.append(f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}: production requires SSL or SASL_SSL")
    if kafka.topic_replication_factor < MIN_REPLICATION_FACTOR:
        problems.append(
            f"KAFKA_TOPIC_REPLICATION_FACTOR={kafka.topic_replication_factor}: "
            f"production requires at least {MIN_REPLICATION_FACTOR}"
        )
    return problems


def database_problems(url: str) -> list[str]:
    parts = urlsplit(url)
    if not parts.scheme.startswith("postgresql"):
        return [f"DATABASE_URL: production requires PostgreSQL, not {parts.scheme.split('+')[0] or 'no scheme'}"]
    query = {k.lower(): v[-1].lower() for k, v in parse_qs(parts.query).items()}
    if query.get("sslmode") in _DB_TLS_MODES or query.get("ssl") in _ASYNCPG_TLS_MODES:
        return []
    return ["DATABASE_URL: production requires TLS (sslmode=require|verify-ca|verify-full or ssl=require)"]


def secret_problems(secrets: Iterable[Secret]) -> list[str]:
    """Weak, development-derived, or reused across agencies or purposes."""
    problems = []
    seen: dict[bytes, Secret] = {}
    for secret in secrets:
        weak = weak_secret_problem(secret.setting, secret.value)
        if weak:
            problems.append(weak)
        if secret.purpose in ("webhook", "ack") and secret.value in {
            derive_dev_secret(DEV_SEED, purpose, secret.owner) for purpose in ("webhook", "ack")
        }:
            problems.append(f"{secret.setting}: a development-derived secret (from the committed seed)")
        key = secret_bytes(secret.value)
        first = seen.setdefault(key, secret)
        if first is not secret and (first.owner, first.purpose) != (secret.owner, secret.purpose):
            what = "agencies" if first.owner != secret.owner else "purposes"
            problems.append(f"{secret.setting}: the same secret as {first.setting} (reused across {what})")
    return problems


def agency_secrets(path: Path) -> tuple[list[Secret], list[str]]:
    """Every secret and webhook-URL problem in AGENCY_CONFIG_FILE (loaded with its own validation)."""
    from shared.directory.endpoints import load_endpoints  # the directory module imports settings, not us

    try:
        endpoints = load_endpoints(path, environment="production")
    except (OSError, ValueError, ValidationError) as exc:
        return [], [f"AGENCY_CONFIG_FILE: {exc}".splitlines()[0]]
    found = []
    for agency_id, endpoint in endpoints.items():
        for purpose, values in (("webhook", endpoint.webhook_secrets), ("ack", endpoint.ack_secrets)):
            for i, value in enumerate(values):
                found.append(
                    Secret(f"AGENCY_CONFIG_FILE agencies.{agency_id}.{purpose}_secrets[{i}]", purpose, agency_id, value)
                )
    return found, []


Uses = Iterable[Literal["agencies", "links", "envelope"]]
EVERYTHING: tuple[Literal["agencies", "links", "envelope"], ...] = ("agencies", "links", "envelope")


def production_problems(
    *,
    kafka: KafkaSettings | None = None,
    database_url: str | None = None,
    secrets: SecretsSettings | None = None,
    link_secret: str | None = None,
    envelope: EnvelopeSettings | None = None,
    metrics: MetricsSettings | None = None,
    uses: Uses = EVERYTHING,
) -> list[str]:
    """Everything wrong with this configuration for production, each naming its setting. `uses` says which
    secrets the service holds (a service is never asked for secrets it has no use for: least privilege)."""
    from shared.acklinks import DEV_LINK_SECRET, AckLinkSettings

    used = set(uses)
    kafka = kafka or KafkaSettings()
    secrets = secrets or SecretsSettings()
    problems = kafka_problems(kafka) + database_problems(database_url or DatabaseSettings().database_url)
    problems += metrics_problems(metrics or MetricsSettings(), "production")  # every service serves /metrics
    found: list[Secret] = []
    if "agencies" in used:
        if secrets.agency_config_file is None:
            problems.append("AGENCY_CONFIG_FILE: required in production (no agency may use derived secrets)")
        else:
            found, file_problems = agency_secrets(secrets.agency_config_file)
            problems += file_problems
    if "envelope" in used:
        try:
            if Keyring.from_settings(envelope) is None:
                problems.append("ENVELOPE_KEYS: required in production (report payloads are sealed on Kafka)")
        except KeyringInvalid as exc:
            problems.append(str(exc))
    if secrets.dev_secret_seed.get_secret_value() != DEV_SEED:
        problems.append("DEV_SECRET_SEED: must not be set in production")
    if "links" in used:
        if link_secret is None:
            try:
                link_secret = AckLinkSettings().secret.get_secret_value()
            except ValidationError:  # AckLinkSettings itself refuses the development secret in production
                link_secret = DEV_LINK_SECRET
        if link_secret == DEV_LINK_SECRET:
            problems.append("ACK_LINK_SECRET: the committed development secret; set a random one")
        else:
            found.append(Secret("ACK_LINK_SECRET", "link", "link", link_secret))
    return problems + secret_problems(found)


def enforce_startup_checks(
    service: str,
    *,
    allowed: Iterable[Environment] = ("local", "test", "production"),
    uses: Uses = EVERYTHING,
    own_problems: Iterable[str] = (),
) -> Environment:
    """Call first in every service's main(): exits (naming each setting) rather than start fail-open.
    `own_problems`: the service's own settings' refusals, listed with the rest in production."""
    environment = current_environment()
    if environment not in tuple(allowed):
        raise ConfigurationRefused(f"{service} refuses ENVIRONMENT={environment}: it is for local runs and tests only")
    if environment == "production":
        problems = production_problems(uses=uses) + list(own_problems)
        if problems:
            listing = "\n  - ".join(problems)
            raise ConfigurationRefused(f"{service} refuses to start in production:\n  - {listing}")
    return environment
