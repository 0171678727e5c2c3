"""The benchmark's agency: verifies every webhook's signature, notes when it arrived (the latency clock),
answers after a fixed delay, and acknowledges each notification once, signed, like a real agency would.

A bare ASGI app (no framework) so that the receiver costs as little of the shared 2 cores as possible.
Run as `python -m devtools.bench.receiver`; BENCH_RECEIVER_* settings below.
"""

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import aiohttp
import uvicorn

from shared.directory.endpoints import EndpointRegistry
from shared.signing import SignatureInvalid, sign_headers, verify_signature

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


class Receiver:
    def __init__(self, acks_url: str, latency_seconds: float, acknowledge: bool) -> None:
        self.acks_url = acks_url
        self.latency = latency_seconds
        self.acknowledge = acknowledge
        self.endpoints = EndpointRegistry()
        self.receipts: list[tuple[str, str, str, str, float]] = []  # notification, webhook-id, report, agency, at
        self.acked: set[str] = set()
        self.bad_signatures = 0
        self.ack_failures = 0
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def client(self) -> aiohttp.ClientSession:
        """aiohttp, not httpx: the receiver shares the machine with the pipeline, and httpx cost it ~1.5 ms of CPU
        per acknowledgement (an agency's own systems would not be on our cores)."""
        if self._client is None:
            self._client = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=64), timeout=aiohttp.ClientTimeout(total=10.0)
            )
        return self._client

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        path, method = scope["path"], scope["method"]
        if method == "POST" and path.startswith("/agencies/"):
            body = await _read(receive)
            status, payload = await self.webhook(path.split("/")[2], scope, body)
        elif method == "POST" and path == "/control":
            settings = json.loads(await _read(receive))
            self.latency = float(settings.get("latency_seconds", self.latency))
            self.acknowledge = bool(settings.get("acknowledge", self.acknowledge))
            status, payload = 200, b"{}"
        elif path == "/receipts":
            status, payload = 200, json.dumps(self.summary()).encode()
        else:
            status, payload = 200, b'{"status":"ok"}'
        await send(
            {"type": "http.response.start", "status": status, "headers": [(b"content-type", b"application/json")]}
        )
        await send({"type": "http.response.body", "body": payload})

    async def webhook(self, agency_id: str, scope: Scope, body: bytes) -> tuple[int, bytes]:
        at = time.time()
        headers = {k.decode(): v.decode() for k, v in scope["headers"]}
        try:
            verify_signature(self.endpoints.get(agency_id).webhook_secrets, body, headers)
        except SignatureInvalid:
            self.bad_signatures += 1
            return 401, b'{"error":"bad signature"}'
        notification = json.loads(body)
        nid = notification["notification_id"]
        self.receipts.append((nid, headers.get("webhook-id", ""), notification.get("report_id", ""), agency_id, at))
        if self.latency:
            await asyncio.sleep(self.latency)
        if self.acknowledge and nid not in self.acked:
            self.acked.add(nid)
            task = asyncio.create_task(self._ack(agency_id, nid))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return 200, b'{"status":"received"}'

    async def _ack(self, agency_id: str, notification_id: str) -> None:
        body = json.dumps(
            {"notification_id": notification_id, "agency_id": agency_id, "acknowledged_by": "bench-officer"}
        ).encode()
        for attempt in range(10):
            headers = sign_headers(self.endpoints.get(agency_id).ack_secrets, f"ack_{notification_id}", body)
            headers["content-type"] = "application/json"
            try:
                async with self.client.post(self.acks_url, data=body, headers=headers) as response:
                    await response.read()
                    if response.status < 500:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(min(0.2 * 2**attempt, 5.0))
        self.ack_failures += 1

    def summary(self) -> dict[str, Any]:
        return {
            "receipts": self.receipts,
            "bad_signatures": self.bad_signatures,
            "ack_failures": self.ack_failures,
            "acks_pending": len(self._tasks),
        }


async def _read(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def main() -> None:
    receiver = Receiver(
        os.environ["BENCH_RECEIVER_ACKS_URL"],
        float(os.environ.get("BENCH_RECEIVER_LATENCY_SECONDS", "0")),
        os.environ.get("BENCH_RECEIVER_ACKNOWLEDGE", "true") == "true",
    )
    uvicorn.run(
        receiver,
        host="127.0.0.1",
        port=int(os.environ["BENCH_RECEIVER_PORT"]),
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
