"""The token bucket and the streamed body cap, without a network."""

import asyncio

import pytest
from starlette.requests import Request

from shared.request_limits import BodyTooLarge, BodyTooSlow, RateLimiter, read_body_capped, retry_after_header
from tests.security.probe import tried


def test_token_bucket_bursts_then_refuses_with_the_wait_then_refills() -> None:
    limiter = RateLimiter(rate=2.0, burst=3)
    waits = [limiter.acquire("a", now=100.0) for _ in range(5)]
    tried("5 requests at one instant, burst 3, 2/s", waits)
    assert waits[:3] == [0.0, 0.0, 0.0] and waits[3] == pytest.approx(0.5) and retry_after_header(waits[3]) == "1"
    assert limiter.acquire("b", now=100.0) == 0.0  # per client
    assert limiter.acquire("a", now=100.6) == 0.0  # refilled after 1/rate seconds


def test_the_bucket_table_is_bounded() -> None:
    limiter = RateLimiter(rate=1.0, burst=1, max_clients=10)
    for i in range(1000):
        limiter.acquire(f"client-{i}", now=1.0)
    assert len(limiter._buckets) == 10


def _request(chunks: list[bytes], headers: list[tuple[bytes, bytes]], delay: float = 0.0) -> tuple[Request, list[int]]:
    pulled: list[int] = []

    async def receive() -> dict[str, object]:
        if delay:
            await asyncio.sleep(delay)
        body = chunks[len(pulled)] if len(pulled) < len(chunks) else b""
        pulled.append(len(body))
        return {"type": "http.request", "body": body, "more_body": len(pulled) < len(chunks)}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": headers, "query_string": b""}
    return Request(scope, receive), pulled


async def test_chunked_body_is_cut_at_the_first_chunk_over_the_cap() -> None:
    request, pulled = _request([b"x" * 1000] * 100, [])
    with pytest.raises(BodyTooLarge):
        await read_body_capped(request, 2500)
    tried("100 chunks of 1000 bytes, cap 2500", f"read {len(pulled)} chunks, then refused")
    assert len(pulled) == 3  # never read past the chunk that crossed the cap


async def test_declared_length_is_refused_before_reading() -> None:
    request, pulled = _request([b"x"], [(b"content-length", b"999999")])
    with pytest.raises(BodyTooLarge):
        await read_body_capped(request, 1000)
    assert pulled == []


async def test_a_body_trickling_in_is_cut_off_at_the_deadline() -> None:
    request, _ = _request([b"x"] * 1000, [], delay=0.05)
    with pytest.raises(BodyTooSlow):
        await read_body_capped(request, 10**6, timeout_seconds=0.3)
