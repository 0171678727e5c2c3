"""Standard Webhooks signatures (HMAC-SHA256 over id.timestamp.body) via the reference library.

Several secrets may be valid at once, so an agency can rotate its secret without downtime: the sender
signs with every current secret and the receiver accepts any of them.
"""

import base64
import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


class SignatureInvalid(Exception):
    """The signature, its headers or its timestamp did not verify."""


def derive_dev_secret(seed: str, purpose: str, agency_id: str) -> str:
    """Local and test runs only: a stable per-agency secret derived from a seed, never committed."""
    digest = hmac.new(seed.encode(), f"{purpose}:{agency_id}".encode(), hashlib.sha256).digest()
    return "whsec_" + base64.b64encode(digest).decode()


def sign_headers(secrets: Sequence[str], message_id: str, body: bytes, now: datetime | None = None) -> dict[str, str]:
    if not secrets:
        raise ValueError("at least one signing secret is required")
    timestamp = (now or datetime.now(UTC)).astimezone(UTC)
    text = body.decode()
    signatures = [Webhook(secret).sign(message_id, timestamp, text) for secret in secrets]
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(int(timestamp.timestamp())),
        "webhook-signature": " ".join(signatures),
    }


def verify_signature(secrets: Sequence[str], body: bytes, headers: Mapping[str, str]) -> None:
    """Raise SignatureInvalid unless one of the secrets verifies (5-minute timestamp tolerance)."""
    plain = {k.lower(): v for k, v in headers.items()}
    last_error = "no secret configured"
    for secret in secrets:
        try:
            Webhook(secret).verify(body, plain, json_parse=False)
            return
        except WebhookVerificationError as exc:
            last_error = str(exc)
        except (ValueError, TypeError) as exc:  # malformed signature header
            last_error = f"malformed signature header ({type(exc).__name__})"
    raise SignatureInvalid(last_error)
