"""One signed webhook POST, with the protections a sender owes itself and its recipients: a total deadline for
the whole attempt (a response trickling one byte at a time cannot hold it longer), no redirects followed, and a
cap on the response body it reads."""

import asyncio
from datetime import datetime

import httpx

from services.notifier.delivery_policy import AttemptResult, classify
from shared.directory.endpoints import AgencyEndpoint
from shared.egress import EgressRefused
from shared.signing import sign_headers
from shared.states import AttemptOutcome


async def post_webhook(
    client: httpx.AsyncClient,
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
            async with client.stream("POST", endpoint.webhook_url, content=body, headers=headers) as response:
                read = 0
                async for chunk in response.aiter_bytes():
                    read += len(chunk)
                    if read >= max_response_bytes:
                        break
                return classify(response.status_code, response.headers.get("retry-after"))
    except EgressRefused as exc:  # an internal address: refused for good, never retried
        return AttemptResult(AttemptOutcome.REJECTED, None, f"refused: {exc}"[:300])
    except TimeoutError:
        return AttemptResult(AttemptOutcome.RETRYABLE, None, f"no answer within {deadline_seconds:g} s")
    except httpx.TimeoutException as exc:
        return AttemptResult(AttemptOutcome.RETRYABLE, None, f"timeout ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return AttemptResult(AttemptOutcome.RETRYABLE, None, f"connection failed ({type(exc).__name__})")
