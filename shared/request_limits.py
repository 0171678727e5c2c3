"""Request limits (OWASP API4): a body cap checked while streaming, and a per-client token bucket.

The cap never reads past the limit: a declared Content-Length over it is refused before reading, and a
chunked body is counted as it arrives and cut off at the first byte over. The rate limit is a token bucket
per client identity (the authenticated client, else the peer address), answering 429 with Retry-After.
"""

import asyncio
import math
import time
from collections import OrderedDict
from dataclasses import dataclass

from starlette.requests import ClientDisconnect, Request


class BodyTooLarge(Exception):
    """The request body is over the cap; nothing past the cap was read."""


class BodyTooSlow(Exception):
    """The body did not arrive within the deadline (a slow client holding a connection open)."""


async def read_body_capped(request: Request, max_bytes: int, timeout_seconds: float = 10.0) -> bytes:
    """The body, or BodyTooLarge without reading past `max_bytes`, or BodyTooSlow after `timeout_seconds`."""
    try:
        async with asyncio.timeout(timeout_seconds):
            return await _read(request, max_bytes)
    except TimeoutError:
        raise BodyTooSlow(f"body not received within {timeout_seconds:g}s") from None


async def _read(request: Request, max_bytes: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.isdigit():
            raise BodyTooLarge("Content-Length is not a number")
        if int(declared) > max_bytes:
            raise BodyTooLarge(f"Content-Length {declared} over {max_bytes} bytes")
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > max_bytes:
                raise BodyTooLarge(f"body over {max_bytes} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise BodyTooLarge("client went away mid-body") from None
    return b"".join(chunks)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """`rate` requests per second sustained, bursts of `burst`; the least recently seen clients are forgotten
    beyond `max_clients`, so a flood of identities cannot grow memory without bound."""

    def __init__(self, rate: float, burst: int, max_clients: int = 10_000) -> None:
        self.rate = rate
        self.burst = burst
        self.max_clients = max_clients
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()

    def acquire(self, client: str, now: float | None = None) -> float:
        """0 when the request may proceed, else the seconds until one token is back (for Retry-After)."""
        now = time.monotonic() if now is None else now
        bucket = self._buckets.pop(client, None) or _Bucket(float(self.burst), now)
        bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
        bucket.updated = now
        self._buckets[client] = bucket
        while len(self._buckets) > self.max_clients:
            self._buckets.popitem(last=False)
        if bucket.tokens >= 1:
            bucket.tokens -= 1
            return 0.0
        return (1 - bucket.tokens) / self.rate


def retry_after_header(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
