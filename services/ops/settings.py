"""Ops settings: who may log in (argon2 hash only), which services to watch, how often to sample lag."""

import json

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class OpsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="OPS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8085
    username: str = "ops"
    # An argon2 hash (``python -m services.ops.passwords``); the plain password is never configured here.
    password_hash: SecretStr | None = None
    # JSON object: service name -> base URL, each answering /healthz (the pipeline runner fills it in).
    services: str = "{}"
    lag_sample_seconds: float = 5.0
    lag_history_minutes: int = 15
    at_risk_seconds: float = 4 * 3600.0

    def service_urls(self) -> dict[str, str]:
        urls: dict[str, str] = json.loads(self.services or "{}")
        return urls
