from pathlib import Path
from typing import Literal

from pydantic import PositiveFloat, PositiveInt
from pydantic_settings import BaseSettings, SettingsConfigDict

WRITE_SCOPE = "reports:write"
READ_SCOPE = "reports:read"


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8081
    public_base_url: str = "http://127.0.0.1:8081"
    max_body_bytes: int = 256 * 1024
    database_timeout_seconds: float = 2.0  # idempotency bookkeeping; past it, accept on Kafka's word alone
    consume_inbound_topic: bool = True
    # OAuth 2.0 client credentials (services/intake/auth.py), or mutual TLS (services/intake/mtls.py: needs the
    # three INTAKE_TLS_* files); "none" only with ENVIRONMENT=local or test.
    auth: Literal["oidc", "mtls", "none"] = "oidc"
    tls_certfile: Path | None = None  # the server's certificate (PEM); set alone, intake serves https
    tls_keyfile: Path | None = None
    tls_client_ca_file: Path | None = None  # INTAKE_AUTH=mtls: the CA every client certificate must chain to
    auth_issuer: str | None = None
    auth_audience: str = "careline-intake"
    auth_jwks_url: str | None = None  # default: the issuer's discovery document names it
    # Limits (OWASP API4): per client, a token bucket; the server's own concurrency and timeouts.
    rate_per_second: PositiveFloat = 20.0
    rate_burst: PositiveInt = 100
    limit_concurrency: PositiveInt = 64
    body_timeout_seconds: PositiveFloat = 10.0
    keep_alive_seconds: PositiveInt = 5
    received_at_max_future_minutes: PositiveFloat = 5.0
    received_at_max_age_days: PositiveInt = 731
