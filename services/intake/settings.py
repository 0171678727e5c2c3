from pydantic_settings import BaseSettings, SettingsConfigDict


class IntakeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="INTAKE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8081
    public_base_url: str = "http://127.0.0.1:8081"
    max_body_bytes: int = 256 * 1024
    consume_inbound_topic: bool = True
