from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.events import RecipientKind

# Per recipient kind, the delays (seconds, each a provisioned retry tier) before each retry.
DEFAULT_SCHEDULES: dict[str, list[int]] = {
    "hart": [5, 30, 120, 600, 1800],
    "fbi": [5, 30, 120, 600, 1800],
    "police": [5, 30, 120, 600, 1800],
    "mdt": [30, 120, 600, 1800],
    "ncmec": [5, 30, 120, 600, 1800],
    "hhs": [30, 120, 600, 1800],
}


class NotifierSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore")

    kind: RecipientKind = RecipientKind.HART
    host: str = "127.0.0.1"
    port: int = 8083
    connect_timeout_seconds: float = 5.0
    request_timeout_seconds: float = 10.0
    max_response_bytes: int = 64 * 1024
    retry_schedule: list[int] | None = Field(default=None, description="overrides the kind's default schedule")
    max_concurrent_per_endpoint: int = 4
    breaker_failure_threshold: int = 5
    breaker_cooldown_seconds: float = 30.0
    # Fault-injection hook for the fault suite only (refused outside ENVIRONMENT=test): the probability
    # that the process dies right after a 2xx and before the delivery is recorded.
    crash_after_delivery_probability: float = 0.0

    def schedule(self) -> list[int]:
        return self.retry_schedule if self.retry_schedule is not None else DEFAULT_SCHEDULES[self.kind.value]
