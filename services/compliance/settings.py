from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class RetentionSettings(BaseSettings):
    """How long the audit trail is kept; the variable keeps its name, AUDIT_RETENTION_DAYS."""

    model_config = SettingsConfigDict(env_prefix="AUDIT_", extra="ignore")

    retention_days: int = Field(default=400, ge=365, description="CJIS 5.4.7: audit records kept >= 1 year.")
