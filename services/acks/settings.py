from pydantic_settings import BaseSettings, SettingsConfigDict


class AcksSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ACKS_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8084
    max_body_bytes: int = 16 * 1024
