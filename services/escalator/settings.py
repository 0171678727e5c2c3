from pathlib import Path

from pydantic import AliasChoices, Field, PositiveFloat
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.policy.loader import DEFAULT_POLICY


class EscalatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ESCALATOR_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8086
    poll_seconds: PositiveFloat = 30.0  # the longest sleep: timers other instances schedule are seen by then
    policy_file: Path = DEFAULT_POLICY
    seconds_per_policy_minute: PositiveFloat = Field(
        default=60.0,
        # The environment keeps its established names (tests and the dev runner set them).
        validation_alias=AliasChoices("ESCALATION_MINUTE_SECONDS", "ESCALATOR_MINUTE_SECONDS"),
        description="How long one policy minute lasts; tests shorten it (1 = one policy minute per second).",
    )
