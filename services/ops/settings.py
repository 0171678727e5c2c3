"""Ops settings: who may log in (argon2 hash, and an OIDC provider when one is configured), which services to
watch, how often to sample lag."""

import json
from typing import Annotated

from pydantic import PositiveInt, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8085
    username: str = "ops"
    # An argon2 hash (``python -m services.ops.passwords``); the plain password is never configured here.
    password_hash: SecretStr | None = None
    # JSON object: service name -> base URL, each answering /healthz (the pipeline runner fills it in).
    services: str = "{}"
    # Lag samples and alert-gauge refreshes: this often while the page is open (it polls every second) ...
    lag_sample_seconds: float = 5.0
    # ... and this often while nobody has had it open for a minute (Prometheus' alert windows are minutes long).
    unwatched_sample_seconds: float = 30.0
    lag_history_minutes: int = 15
    at_risk_seconds: float = 4 * 3600.0
    # A consumer group this many messages behind (all its partitions together) gets a banner on the page.
    lag_alert_messages: int = 100
    # The charts: how far back, and the bucket width of the deliver/acknowledge percentiles.
    chart_hours: float = 3.0
    chart_bucket_minutes: int = 10

    # OpenID Connect (services/ops/oidc.py): off unless an issuer is set. The issuer is compared exactly with the
    # provider's `iss`, so write it as the provider publishes it (e.g. https://idp.example.org/realms/careline).
    oidc_issuer: str | None = None
    oidc_client_id: str = "careline-ops"
    oidc_client_secret: SecretStr | None = None
    oidc_scopes: str = "openid profile email"
    # Who may enter: each entry is compared with the token's `sub`, `preferred_username`, and `email` (the last
    # only when the provider says `email_verified`). Empty: everyone the provider signs in for this client.
    # Comma-separated or a JSON list.
    oidc_allowed_users: Annotated[list[str], NoDecode] = []
    # The ops service's external base URL (https://ops.example.org); the redirect URI is built from it. When
    # unset it comes from each request (fine on loopback; behind a proxy set it).
    oidc_public_url: str | None = None
    # Signs the login session cookie; random per process when unset (a restart signs everybody out).
    session_secret: SecretStr | None = None
    # How long one OIDC login lasts, however busy the page is (it polls every second).
    session_max_age_seconds: int = 8 * 3600
    # A login session unused this long is refused (sign in again); any request riding on it counts as use.
    session_idle_minutes: PositiveInt = 30

    @field_validator("oidc_issuer", "oidc_public_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        value = (value or "").strip() or None
        if value is not None and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @field_validator("oidc_scopes")
    @classmethod
    def _openid_scope(cls, value: str) -> str:
        if "openid" not in value.split():
            raise ValueError("must include 'openid' (without it there is no ID token to check)")
        return value

    @field_validator("oidc_allowed_users", mode="before")
    @classmethod
    def _user_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            parsed: object = json.loads(text) if text.startswith("[") else text.split(",")
            value = parsed
        if isinstance(value, list):
            return [str(v).strip() for v in value if str(v).strip()]
        return value

    @property
    def oidc_enabled(self) -> bool:
        return self.oidc_issuer is not None

    def service_urls(self) -> dict[str, str]:
        urls: dict[str, str] = json.loads(self.services or "{}")
        return urls
