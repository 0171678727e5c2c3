from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from services.notifier.delivery_policy import SCHEDULES
from shared.events import RecipientKind


class NotifierSettings(BaseSettings):
    """One process serves the recipient kinds in NOTIFIER_KINDS (default: all), each kind with its own consumer
    group, so a deployment can also run one kind per process and scale that kind alone."""

    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    kinds: Annotated[list[RecipientKind], NoDecode] = Field(default_factory=lambda: list(RecipientKind))
    host: str = "127.0.0.1"
    port: int = 8083
    connect_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 10.0
    attempt_deadline_seconds: float = 15.0  # the whole attempt, however slowly the endpoint trickles
    max_response_bytes: int = 64 * 1024
    retry_schedule: list[int] | None = Field(default=None, description="overrides every kind's default schedule")
    max_concurrent_per_endpoint: int = 4
    max_connections: int = 200
    breaker_failure_threshold: int = 5
    breaker_cooldown_seconds: float = 30.0

    @field_validator("kinds", mode="before")
    @classmethod
    def _split_kinds(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    def schedule(self, kind: RecipientKind) -> list[int]:
        return self.retry_schedule if self.retry_schedule is not None else SCHEDULES[kind.value]
