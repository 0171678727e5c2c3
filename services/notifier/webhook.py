"""One signed webhook POST, with the protections a sender owes itself and its recipients:
timeouts, no redirects followed, a cap on the response body it reads."""

from dataclasses import dataclass
from datetime import datetime

import httpx

from shared.directory.endpoints import AgencyEndpoint
from shared.signing import sign_headers


@dataclass(frozen=True)
class AttemptResult:
    outcome: str  # delivered | retryable | rejected | gone
    status_code: int | None
    error: str | None
    retry_after_seconds: float | None = None


def classify(status: int, retry_after: str | None) -> AttemptResult:
    if 200 <= status < 300:
        return AttemptResult("delivered", status, None)
    if status == 410:
        return AttemptResult("gone", status, "endpoint answered 410 Gone")
    if status in (408, 429) or status >= 500:
        delay = float(retry_after) if retry_after and retry_after.isdigit() else None
        return AttemptResult("retryable", status, f"HTTP {status}", delay)
    if 300 <= status < 400:
        return AttemptResult("rejected", status, f"HTTP {status}: redirects are not followed")
    return AttemptResult("rejected", status, f"HTTP {status}")


async def post_webhook(
    client: httpx.AsyncClient,
    endpoint: AgencyEndpoint,
    message_id: str,
    body: bytes,
    *,
    max_response_bytes: int,
    now: datetime | None = None,
) -> AttemptResult:
    headers = sign_headers(endpoint.webhook_secrets, message_id, body, now)
    headers["content-type"] = "application/json"
    try:
        async with client.stream("POST", endpoint.webhook_url, content=body, headers=headers) as response:
            read = 0
            async for chunk in response.aiter_bytes():
                read += len(chunk)
                if read >= max_response_bytes:
                    break
            return classify(response.status_code, response.headers.get("retry-after"))
    except httpx.TimeoutException as exc:
        return AttemptResult("retryable", None, f"timeout ({type(exc).__name__})")
    except httpx.HTTPError as exc:
        return AttemptResult("retryable", None, f"connection failed ({type(exc).__name__})")
