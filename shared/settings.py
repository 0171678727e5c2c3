"""Configuration shared by every service, read from environment variables.

Fail closed: ENVIRONMENT has no default, so a deployment that forgets it does not start (the local run and the
test suites set `local`/`test` explicitly); `production` is checked by shared/production_checks.py.
"""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parent.parent


class KafkaSettings(BaseSettings):
    """How to reach Kafka; TLS and SASL are for every deployment outside loopback."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", extra="ignore")

    bootstrap_servers: str = "127.0.0.1:9092"
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "SCRAM-SHA-512"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    publish_timeout_seconds: float = 10.0
    client_id_prefix: str = "careline"
    # Replication factor the topics are created with (production refuses under 3: one broker lost loses nothing).
    topic_replication_factor: int = 1


class DatabaseSettings(BaseSettings):
    """SQLite is the embedded default for a local run; deployments and tests use PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{REPO_ROOT / '.run' / 'careline.db'}"
    # Connections each process keeps open (PostgreSQL). Never more: an overflow connection is opened and closed
    # per use, and under load that churn (a server process forked per connection) cost more than the queries.
    database_pool_size: int = Field(default=10, ge=1, le=100)


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    level: str = "INFO"
    format: Literal["json", "console"] = "console"


Environment = Literal["local", "test", "production"]
ENVIRONMENTS: tuple[Environment, ...] = ("local", "test", "production")
ENVIRONMENT_UNSET = (
    "ENVIRONMENT is not set: set ENVIRONMENT=production in a deployment, local or test only on a developer's "
    "machine (scripts/dev run and the test suites set it themselves)"
)


class ConfigurationRefused(SystemExit):
    """A service must not start with this configuration; the message names the setting."""


class EnvironmentSettings(BaseSettings):
    """Which rules apply. No default: a service started without ENVIRONMENT refuses to start."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", validate_default=True)

    environment: Environment | None = None

    @field_validator("environment", mode="after")
    @classmethod
    def _required(cls, value: Environment | None) -> Environment:
        if value is None:
            raise ValueError(ENVIRONMENT_UNSET)
        return value


def current_environment() -> Environment:
    """ENVIRONMENT, or ConfigurationRefused naming the variable when it is missing or not one of ENVIRONMENTS."""
    try:
        value = EnvironmentSettings().environment
    except ValidationError as exc:
        message = (
            ENVIRONMENT_UNSET if "not set" in str(exc) else f"ENVIRONMENT must be one of {', '.join(ENVIRONMENTS)}"
        )
        raise ConfigurationRefused(message) from None
    assert value is not None  # the validator refuses None
    return value


class SecretsSettings(BaseSettings):
    """Per-agency secrets come from a file in deployments; a dev seed derives them for local runs only."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", validate_default=True)

    environment: Environment | None = None  # required: see EnvironmentSettings
    agency_config_file: Path | None = None
    dev_secret_seed: SecretStr = SecretStr("local-development-only-not-a-secret")
    recipient_base_url: str = "http://127.0.0.1:8090"

    @field_validator("environment", mode="after")
    @classmethod
    def _environment_required(cls, value: Environment | None) -> Environment:
        if value is None:
            raise ValueError(ENVIRONMENT_UNSET)
        return value
