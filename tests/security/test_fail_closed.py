"""Fail closed: no ENVIRONMENT, no start; production refuses every development or weak setting, by name."""

import base64
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import SecretStr

from shared.acklinks import DEV_LINK_SECRET, AckLinkSettings, DevLinkSecretRefused, link_for
from shared.envelope import EnvelopeSettings, new_key
from shared.metrics_access import MetricsSettings
from shared.production_checks import DEV_SEED, production_problems
from shared.settings import REPO_ROOT, ConfigurationRefused, KafkaSettings, SecretsSettings, current_environment
from shared.signing import derive_dev_secret
from tests.security.probe import tried


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _run_service(module: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("ENVIRONMENT", "ACK_LINK_SECRET", "AGENCY_CONFIG_FILE")}
    return subprocess.run(
        [sys.executable, "-m", module],
        env={**clean, **env},
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("module", ["services.intake", "services.acks"])
def test_a_service_without_environment_refuses_to_start(module: str) -> None:
    result = _run_service(module, {"INTAKE_PORT": "1", "ACKS_PORT": "1"})
    tried(f"python -m {module} without ENVIRONMENT", f"rc={result.returncode} {result.stderr.strip()[-200:]}")
    assert result.returncode != 0
    assert "ENVIRONMENT is not set" in result.stderr


def test_unknown_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "staging")
    with pytest.raises(ConfigurationRefused, match="ENVIRONMENT must be one of local, test, production"):
        current_environment()
    monkeypatch.delenv("ENVIRONMENT")
    with pytest.raises(ValueError, match="ENVIRONMENT is not set"):
        SecretsSettings()


def test_recipient_simulator_refuses_production() -> None:
    result = _run_service("services.recipient_sim", {"ENVIRONMENT": "production", "SIM_PORT": "1"})
    tried("python -m services.recipient_sim with ENVIRONMENT=production", result.stderr.strip()[-200:])
    assert result.returncode != 0
    assert "recipient-sim refuses ENVIRONMENT=production" in result.stderr


@pytest.mark.parametrize(
    ("module", "settings"),
    [
        ("services.intake", ("KAFKA_SECURITY_PROTOCOL=PLAINTEXT", "KAFKA_TOPIC_REPLICATION_FACTOR", "DATABASE_URL",
                             "ENVELOPE_KEYS", "METRICS_TOKEN")),
        ("services.acks", ("KAFKA_SECURITY_PROTOCOL=PLAINTEXT", "KAFKA_TOPIC_REPLICATION_FACTOR", "DATABASE_URL",
                           "AGENCY_CONFIG_FILE", "ACK_LINK_SECRET", "METRICS_TOKEN")),
    ],
)  # fmt: skip
def test_production_start_lists_every_refusal_by_setting(module: str, settings: tuple[str, ...]) -> None:
    result = _run_service(module, {"ENVIRONMENT": "production", "KAFKA_SECURITY_PROTOCOL": "PLAINTEXT"})
    tried(f"python -m {module}, ENVIRONMENT=production with development defaults", result.stderr[-900:])
    assert result.returncode != 0
    for setting in settings:
        assert setting in result.stderr


def _agencies(tmp_path: Path, agencies: dict[str, dict[str, object]]) -> Path:
    path = tmp_path / "agencies.yaml"
    path.write_text(yaml.safe_dump({"agencies": agencies}))
    return path


GOOD_KAFKA = KafkaSettings(security_protocol="SASL_SSL", topic_replication_factor=3)
GOOD_ENVELOPE = EnvelopeSettings(keys=json.dumps({"2026-12": new_key()}), current_key_id="2026-12")
GOOD_DB = "postgresql+asyncpg://careline@db.example.org/careline?ssl=verify-full"
GOOD_METRICS = MetricsSettings(token=SecretStr(secrets.token_urlsafe(32)), open=False)  # conftest opens it


def test_a_clean_production_configuration_passes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    config = _agencies(
        tmp_path,
        {
            "pd-a": {
                "webhook_url": "https://a.example.org/h",
                "webhook_secrets": [_secret()],
                "ack_secrets": [_secret()],
            },
            "pd-b": {
                "webhook_url": "https://b.example.org/h",
                "webhook_secrets": [_secret()],
                "ack_secrets": [_secret()],
            },
        },
    )
    problems = production_problems(
        kafka=GOOD_KAFKA,
        database_url=GOOD_DB,
        secrets=SecretsSettings(agency_config_file=config),
        link_secret=secrets.token_urlsafe(32),
        envelope=GOOD_ENVELOPE,
        metrics=GOOD_METRICS,
    )
    tried("production_problems(TLS Kafka RF 3, TLS PostgreSQL, https, fresh secrets, keyring, metrics token)", problems)
    assert problems == []


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("plaintext_kafka", "KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT"),
        ("replication_2", "KAFKA_TOPIC_REPLICATION_FACTOR=2"),
        ("db_without_tls", "DATABASE_URL: production requires TLS"),
        ("sqlite", "DATABASE_URL: production requires PostgreSQL"),
        ("http_webhook", "agencies.pd-a.webhook_url refused: scheme 'http'"),
        ("short_secret", "agencies.pd-a.webhook_secrets[0]: secret has 1 bytes"),
        ("not_random", "agencies.pd-a.webhook_secrets[0]: secret is not random"),
        ("dev_derived", "agencies.pd-a.ack_secrets[0]: a development-derived secret"),
        ("shared_by_agencies", "agencies.pd-b.webhook_secrets[0]: the same secret as AGENCY_CONFIG_FILE agencies.pd-a"),
        ("webhook_is_ack", "agencies.pd-a.ack_secrets[0]: the same secret as AGENCY_CONFIG_FILE agencies.pd-a.webhook"),
        ("link_is_agency", "ACK_LINK_SECRET: the same secret as"),
        ("dev_link", "ACK_LINK_SECRET: the committed development secret"),
        ("short_link", "ACK_LINK_SECRET: secret has 5 bytes"),
        ("dev_seed", "DEV_SECRET_SEED: must not be set in production"),
        ("no_keyring", "ENVELOPE_KEYS: required in production"),
        ("short_key", "ENVELOPE_KEYS['k1'] has 16 bytes; AES-256 needs 32"),
        ("no_metrics_token", "METRICS_TOKEN: required in production"),
        ("metrics_open", "METRICS_OPEN: must not be set in production"),
        ("short_metrics_token", "METRICS_TOKEN: secret has"),
    ],
)
def test_each_production_refusal_names_the_setting(
    case: str, expected: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ENVIRONMENT", "production")
    a_webhook, a_ack, b_webhook, link = _secret(), _secret(), _secret(), secrets.token_urlsafe(32)
    url = "https://a.example.org/h"
    kafka, db, seed, envelope, metrics = GOOD_KAFKA, GOOD_DB, DEV_SEED, GOOD_ENVELOPE, GOOD_METRICS
    if case == "plaintext_kafka":
        kafka = KafkaSettings(security_protocol="SASL_PLAINTEXT", topic_replication_factor=3)
    elif case == "replication_2":
        kafka = KafkaSettings(security_protocol="SSL", topic_replication_factor=2)
    elif case == "db_without_tls":
        db = "postgresql+asyncpg://careline@db.example.org/careline"
    elif case == "sqlite":
        db = "sqlite+aiosqlite:///x.db"
    elif case == "http_webhook":
        url = "http://a.example.org/h"
    elif case == "short_secret":
        a_webhook = "whsec_" + base64.b64encode(b"x").decode()
    elif case == "not_random":
        a_webhook = "whsec_" + base64.b64encode(b"ab" * 20).decode()
    elif case == "dev_derived":
        a_ack = derive_dev_secret(DEV_SEED, "ack", "pd-a")
    elif case == "shared_by_agencies":
        b_webhook = a_webhook
    elif case == "webhook_is_ack":
        a_ack = a_webhook
    elif case == "link_is_agency":
        link = a_ack
    elif case == "dev_link":
        link = DEV_LINK_SECRET
    elif case == "short_link":
        link = "abcde"
    elif case == "dev_seed":
        seed = "someone-set-a-seed"
    elif case == "no_keyring":
        envelope = EnvelopeSettings()
    elif case == "short_key":
        envelope = EnvelopeSettings(keys=json.dumps({"k1": base64.b64encode(b"k" * 16).decode()}))
    elif case == "no_metrics_token":
        metrics = MetricsSettings(open=False)
    elif case == "metrics_open":
        metrics = MetricsSettings(token=GOOD_METRICS.token, open=True)
    elif case == "short_metrics_token":
        metrics = MetricsSettings(token=SecretStr("prometheus"), open=False)
    config = _agencies(
        tmp_path,
        {
            "pd-a": {"webhook_url": url, "webhook_secrets": [a_webhook], "ack_secrets": [a_ack]},
            "pd-b": {
                "webhook_url": "https://b.example.org/h",
                "webhook_secrets": [b_webhook],
                "ack_secrets": [_secret()],
            },
        },
    )
    problems = production_problems(
        kafka=kafka,
        database_url=db,
        secrets=SecretsSettings(agency_config_file=config, dev_secret_seed=seed),
        link_secret=link,
        envelope=envelope,
        metrics=metrics,
    )
    tried(f"production_problems with {case}", problems)
    assert any(expected in p for p in problems), problems
    assert len(problems) == 1, problems  # only the one thing that is wrong


def test_router_and_escalator_cannot_mint_links_with_the_dev_secret_in_production(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from datetime import UTC, datetime

    minted = link_for(AckLinkSettings(), "ntf_1", "pd-a", datetime.now(UTC))  # ENVIRONMENT=test: allowed
    monkeypatch.setenv("ENVIRONMENT", "production")
    with pytest.raises(ValueError, match="ACK_LINK_SECRET is the committed development secret"):
        AckLinkSettings()  # what router (services/router/outputs.py) and escalator construct
    settings = AckLinkSettings.model_construct(secret=AckLinkSettings.model_fields["secret"].default)
    with pytest.raises(DevLinkSecretRefused):
        link_for(settings, "ntf_1", "pd-a", datetime.now(UTC))
    tried("AckLinkSettings() and link_for with the committed secret, ENVIRONMENT=production", "refused")
    assert minted.startswith("http")
