"""One signed webhook POST, with the protections a sender owes itself and its recipients: a total deadline for
the whole attempt (a response trickling one byte at a time cannot hold it longer), no redirects followed, and a
cap on the response body it reads."""

import asyncio
from datetime import datetime
from typing import Protocol

import aiohttp

from services.notifier.delivery_policy import AttemptResult, classify
from shared.directory.endpoints import AgencyEndpoint
from shared.egress import EgressRefused, EgressResponse
from shared.signing import sign_headers
from shared.states import AttemptOutcome


class WebhookClient(Protocol):
    """What the notifier needs of an HTTP client (shared.egress.EgressClient in the service)."""

    async def post(
        self, url: str, content: bytes = b"", headers: dict[str, str] | None = None, *, max_response_bytes: int = ...
    ) -> EgressResponse: ...


async def post_webhook(
    client: WebhookClient,
    endpoint: AgencyEndpoint,
    message_id: str,
    body: bytes,
    *,
    max_response_bytes: int,
    deadline_seconds: float,
    now: datetime | None = None,
) -> AttemptResult:
    headers = sign_headers(endpoint.webhook_secrets, message_id, body, now)
    headers["content-type"] = "application/json"
    try:
        async with asyncio.timeout(deadline_seconds):
            response = await client.post(
                endpoint.webhook_url, content=body, headers=headers, max_response_bytes=max_response_bytes
            )
        return classify(response.status_code, response.headers.get("retry-after"))
    except EgressRefused as exc:  # an internal address: refused for good, never retried
        return AttemptResult(AttemptOutcome.REJECTED, None, f"refused: {exc}"[:300])
    except TimeoutError:
        return AttemptResult(AttemptOutcome.RETRYABLE, None, f"no answer within {deadline_seconds:g} s")
    except aiohttp.ClientError as exc:
        return AttemptResult(AttemptOutcome.RETRYABLE, None, f"connection failed ({type(exc).__name__})")
