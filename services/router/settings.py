from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.policy.loader import DEFAULT_POLICY


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8082
    policy_file: Path = DEFAULT_POLICY
