from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import RecipientKind


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    kind: RecipientKind = RecipientKind.HART
    host: str = "127.0.0.1"
    port: int = 8083
    connect_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 15.0
    max_response_bytes: int = 64 * 1024
    max_attempts: int = 4
    backoff_seconds: list[float] = Field(default_factory=lambda: [1.0, 3.0, 9.0])
