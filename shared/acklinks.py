"""Signed, expiring one-click acknowledgement links.

People at an agency often act from an e-mail or a phone, where signing a webhook is impossible. The link
carries its own proof: an HMAC (server-side secret) over the notification id, the agency id and the expiry,
so it cannot be forged, moved to another notification or agency, or used after the notification's deadline.
"""

import base64
import functools
import hashlib
import hmac
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_LINK_SECRET = "local-development-ack-link-secret"  # noqa: S105 (refused in production)


class AckLinkSettings(BaseSettings):
    """The secret is shared by the router (signs links) and the acks service (verifies them)."""

    model_config = SettingsConfigDict(env_prefix="ACK_LINK_", extra="ignore")

    secret: SecretStr = SecretStr(DEV_LINK_SECRET)
    base_url: str = "http://127.0.0.1:8084"

    @model_validator(mode="after")
    def _no_known_secret_in_production(self) -> "AckLinkSettings":
        """Loaded by the router and escalator (mint) and acks (verify): all refuse the committed secret."""
        refuse_dev_secret_in_production(self.secret.get_secret_value())
        return self


class DevLinkSecretRefused(ValueError):
    """ACK_LINK_SECRET is the committed development secret and ENVIRONMENT is production."""


def current_link_settings() -> AckLinkSettings:
    """The link settings as the environment says now, built once per distinct environment: minting a link per
    notification must not re-read and re-validate the settings each time (it was a tenth of the router's CPU)."""
    return _link_settings_for(*(os.environ.get(name) for name in _LINK_ENVIRONMENT))


_LINK_ENVIRONMENT = ("ACK_LINK_SECRET", "ACK_LINK_BASE_URL", "ENVIRONMENT")


@functools.lru_cache(maxsize=8)
def _link_settings_for(*_environment: str | None) -> AckLinkSettings:
    return AckLinkSettings()


def refuse_dev_secret_in_production(secret: str) -> None:
    # Called per minted link: the raw variable decides (only the exact value "production" is production).
    if secret == DEV_LINK_SECRET and os.environ.get("ENVIRONMENT") == "production":
        raise DevLinkSecretRefused(
            "ACK_LINK_SECRET is the committed development secret: anyone could forge acknowledgements; "
            "set a random secret of at least 24 bytes"
        )


class LinkInvalid(Exception):
    """The token is malformed, forged or expired."""


@dataclass(frozen=True)
class LinkClaim:
    notification_id: str
    agency_id: str
    expires_at: datetime


def _mac(secret: str, notification_id: str, agency_id: str, expiry: int) -> str:
    message = f"{notification_id}|{agency_id}|{expiry}".encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def make_token(secret: str, notification_id: str, agency_id: str, expires_at: datetime) -> str:
    if "." in notification_id or "." in agency_id:
        raise ValueError("ids in an acknowledgement link may not contain '.'")
    expiry = int(expires_at.timestamp())
    return f"{notification_id}.{agency_id}.{expiry}.{_mac(secret, notification_id, agency_id, expiry)}"


def verify_token(secret: str, token: str, now: datetime | None = None) -> LinkClaim:
    parts = token.split(".")
    if len(parts) != 4 or not parts[2].isdigit():
        raise LinkInvalid("malformed link")
    notification_id, agency_id, expiry_text, mac = parts
    expected = _mac(secret, notification_id, agency_id, int(expiry_text))
    if not hmac.compare_digest(expected.encode(), mac.encode()):  # bytes: any text in a link is just wrong
        raise LinkInvalid("link signature not valid")
    expires_at = datetime.fromtimestamp(int(expiry_text), UTC)
    if (now or datetime.now(UTC)) > expires_at:
        raise LinkInvalid("link expired")
    return LinkClaim(notification_id, agency_id, expires_at)


def link_for(settings: AckLinkSettings, notification_id: str, agency_id: str, expires_at: datetime) -> str:
    refuse_dev_secret_in_production(settings.secret.get_secret_value())  # also when settings were constructed
    token = make_token(settings.secret.get_secret_value(), notification_id, agency_id, expires_at)
    return f"{settings.base_url.rstrip('/')}/v1/acks/link/{token}"
