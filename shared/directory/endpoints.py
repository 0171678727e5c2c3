"""Where and how each agency is reached: webhook URL, signing secrets, acknowledgement secrets.

Deployments give a YAML file (AGENCY_CONFIG_FILE) that is never committed. Local and test runs derive
per-agency secrets from a seed and point every agency at the recipient simulator.

Every configured webhook URL is checked at load (shared/egress.py: https only in production, no literal
private, loopback or metadata address); the egress client checks each resolved address again at connect time.
"""

from dataclasses import dataclass
from pathlib import Path

import yaml
from pydantic import BaseModel, Field, HttpUrl

from shared.egress import EgressRefused, EgressSettings, check_url
from shared.settings import Environment, SecretsSettings
from shared.signing import derive_dev_secret


class EndpointNotConfigured(LookupError):
    """No webhook endpoint is configured for this agency: ops must add one."""


class _AgencyEndpointConfig(BaseModel):
    webhook_url: HttpUrl
    webhook_secrets: list[str] = Field(min_length=1)
    ack_secrets: list[str] = Field(min_length=1)


class _EndpointsFile(BaseModel):
    agencies: dict[str, _AgencyEndpointConfig]


@dataclass(frozen=True)
class AgencyEndpoint:
    agency_id: str
    webhook_url: str
    webhook_secrets: tuple[str, ...]
    ack_secrets: tuple[str, ...]


class EndpointRegistry:
    def __init__(self, settings: SecretsSettings | None = None) -> None:
        self._settings = settings or SecretsSettings()
        self._configured: dict[str, AgencyEndpoint] = {}
        if self._settings.agency_config_file:
            self._configured = load_endpoints(
                self._settings.agency_config_file, environment=self._environment(), egress=EgressSettings()
            )

    def _environment(self) -> Environment:
        environment = self._settings.environment
        assert environment is not None  # SecretsSettings refuses a missing ENVIRONMENT
        return environment

    def get(self, agency_id: str) -> AgencyEndpoint:
        if agency_id in self._configured:
            return self._configured[agency_id]
        if self._settings.environment == "production":
            raise EndpointNotConfigured(f"no endpoint configured for agency {agency_id!r}")
        seed = self._settings.dev_secret_seed.get_secret_value()
        return AgencyEndpoint(
            agency_id=agency_id,
            webhook_url=f"{self._settings.recipient_base_url.rstrip('/')}/agencies/{agency_id}/webhook",
            webhook_secrets=(derive_dev_secret(seed, "webhook", agency_id),),
            ack_secrets=(derive_dev_secret(seed, "ack", agency_id),),
        )


def load_endpoints(
    path: Path, *, environment: Environment, egress: EgressSettings | None = None
) -> dict[str, AgencyEndpoint]:
    """Parse AGENCY_CONFIG_FILE; ValueError naming the agency when a webhook URL is not allowed."""
    parsed = _EndpointsFile.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
    allow_loopback = (egress or EgressSettings()).allow_loopback and environment != "production"
    for agency_id, cfg in parsed.agencies.items():
        try:
            check_url(str(cfg.webhook_url), environment=environment, allow_loopback=allow_loopback)
        except EgressRefused as exc:
            raise ValueError(f"agencies.{agency_id}.webhook_url refused: {exc}") from None
    return {
        agency_id: AgencyEndpoint(agency_id, str(cfg.webhook_url), tuple(cfg.webhook_secrets), tuple(cfg.ack_secrets))
        for agency_id, cfg in parsed.agencies.items()
    }
