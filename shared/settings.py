"""Configuration shared by every service, read from environment variables with safe local defaults."""

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
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


class DatabaseSettings(BaseSettings):
    """SQLite is the embedded default for a local run; deployments and tests use PostgreSQL."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    database_url: str = f"sqlite+aiosqlite:///{REPO_ROOT / '.run' / 'careline.db'}"


class LoggingSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LOG_", extra="ignore")

    level: str = "INFO"
    format: Literal["json", "console"] = "console"


class SecretsSettings(BaseSettings):
    """Per-agency secrets come from a file in deployments; a dev seed derives them for local runs only."""

    model_config = SettingsConfigDict(env_prefix="", extra="ignore")

    environment: Literal["local", "test", "production"] = "local"
    agency_config_file: Path | None = None
    dev_secret_seed: SecretStr = SecretStr("local-development-only-not-a-secret")
    recipient_base_url: str = "http://127.0.0.1:8090"
