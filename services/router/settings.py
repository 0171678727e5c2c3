from pathlib import Path

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.policy.loader import DEFAULT_POLICY
from shared.settings import SecretsSettings
from shared.signing import derive_dev_secret


class LinkKeyMissing(RuntimeError):
    """Production needs ROUTER_LINK_KEY: the digests that link reports must not be computable by anyone else."""


class RouterSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ROUTER_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8082
    policy_file: Path = DEFAULT_POLICY
    link_key: SecretStr | None = None  # HMAC key for report matching (deconfliction); >= 32 bytes in production


def link_key(settings: RouterSettings, secrets: SecretsSettings | None = None) -> bytes:
    """The configured key; local and test runs derive one from the dev seed, production refuses to start without."""
    secrets = secrets or SecretsSettings()
    if settings.link_key is not None:
        key = settings.link_key.get_secret_value().encode()
        if secrets.environment == "production" and len(key) < 32:
            raise LinkKeyMissing("ROUTER_LINK_KEY must be at least 32 bytes in production")
        return key
    if secrets.environment == "production":
        raise LinkKeyMissing("ROUTER_LINK_KEY is required in production (HMAC key for linking reports)")
    return derive_dev_secret(secrets.dev_secret_seed.get_secret_value(), "link", "router").encode()
