"""A total deadline per delivery attempt: an agency server that trickles its answer (one byte every 0.3 s, for
ever) cannot hold a notifier attempt past `deadline_seconds`, although every byte arrives well within the socket
read timeout (10 s). The real post_webhook (services/notifier/webhook.py) over the real EgressClient (aiohttp),
loopback explicitly allowed as in the other egress tests, against a real HTTP server on 127.0.0.1.
"""

import asyncio
import base64
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from services.notifier.delivery_policy import AttemptResult
from services.notifier.webhook import post_webhook
from shared.directory.endpoints import AgencyEndpoint
from shared.egress import EgressSettings, make_egress_client
from shared.states import AttemptOutcome
from tests.security.probe import tried

TRICKLE_SECONDS = 0.3
DEADLINE_SECONDS = 1.0


@dataclass
class Trickle:
    """What the server saw: requests, bytes it managed to send, and when the client went away (monotonic)."""

    mode: str = "body"
    stop: threading.Event = field(default_factory=threading.Event)
    dropped: threading.Event = field(default_factory=threading.Event)
    requests: int = 0
    bytes_sent: int = 0
    dropped_at: float | None = None


def _handler(state: Trickle) -> type[BaseHTTPRequestHandler]:
    class TrickleHandler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            state.requests += 1
            if state.mode == "body":  # the whole head at once, then a body that never finishes
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1000000\r\n\r\n")
                self.wfile.flush()
                head, filler = b"", b"."
            elif state.mode == "headers":  # the status line at once, then a header that never ends
                self.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n")
                self.wfile.flush()
                head, filler = b"X-Slow: ", b"a"
            else:  # "status line": from its first byte
                head, filler = b"HTTP/1.1 200 OK\r\nX-Slow: ", b"a"
            pending = list(head)
            while not state.stop.is_set():  # for ever, until the client leaves or the test ends
                byte = bytes([pending.pop(0)]) if pending else filler
                try:
                    self.wfile.write(byte)
                    self.wfile.flush()
                except OSError:
                    state.dropped_at = time.monotonic()
                    state.dropped.set()
                    return
                state.bytes_sent += 1
                state.stop.wait(TRICKLE_SECONDS)
            self.close_connection = True

        def log_message(self, *_: object) -> None:
            return None

    return TrickleHandler


@pytest.fixture
def trickling_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, Trickle]]:
    state = Trickle(mode=request.param)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], state
    finally:
        state.stop.set()
        server.shutdown()
        server.server_close()


def _secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


async def _attempt(port: int) -> tuple[object, float, float]:
    """One real attempt as the notifier makes it; its result, how long it took, and when it ended (monotonic)."""
    endpoint = AgencyEndpoint("pd-trickle", f"http://127.0.0.1:{port}/hook", (_secret(),), (_secret(),))
    async with make_egress_client(EgressSettings(allow_loopback=True), environment="test") as client:
        started = time.monotonic()
        result = await post_webhook(
            client,
            endpoint,
            "msg-trickle-1",
            b'{"notification":"test"}',
            max_response_bytes=65536,
            deadline_seconds=DEADLINE_SECONDS,
        )
        ended = time.monotonic()
    return result, ended - started, ended


async def _report(state: Trickle, result: object, elapsed: float, ended: float) -> float | None:
    # The client is closed: the server's next byte (within a trickle step or two) finds the connection gone.
    await asyncio.to_thread(state.dropped.wait, 3)
    dropped_after = None if state.dropped_at is None else round(state.dropped_at - ended, 2)
    tried(
        f"POST, the server trickles its {state.mode} a byte every {TRICKLE_SECONDS} s; deadline {DEADLINE_SECONDS:g} s",
        {
            "result": result,
            "elapsed_s": round(elapsed, 3),
            "server: requests, bytes sent": (state.requests, state.bytes_sent),
            "server saw the connection dropped, s after the attempt ended": dropped_after,
        },
    )
    return dropped_after


@pytest.mark.parametrize("trickling_server", ["status line", "headers"], indirect=True)
async def test_a_trickling_answer_is_cut_at_the_attempt_deadline(trickling_server: tuple[int, Trickle]) -> None:
    port, state = trickling_server
    result, elapsed, ended = await _attempt(port)
    dropped_after = await _report(state, result, elapsed, ended)
    assert isinstance(result, AttemptResult)
    assert state.requests == 1 and state.bytes_sent >= 3  # the answer was really trickling in
    assert result.outcome == AttemptOutcome.RETRYABLE and result.status_code is None
    assert result.error == f"no answer within {DEADLINE_SECONDS:g} s"
    assert DEADLINE_SECONDS <= elapsed < DEADLINE_SECONDS + 0.5
    assert dropped_after is not None and dropped_after < 2 * TRICKLE_SECONDS + 0.5  # not left hanging open


@pytest.mark.parametrize("trickling_server", ["body"], indirect=True)
async def test_a_trickling_body_does_not_hold_the_attempt_at_all(trickling_server: tuple[int, Trickle]) -> None:
    """The status decides: the capped read takes what has arrived and the attempt ends; the body is not awaited."""
    port, state = trickling_server
    result, elapsed, ended = await _attempt(port)
    dropped_after = await _report(state, result, elapsed, ended)
    assert isinstance(result, AttemptResult)
    assert state.requests == 1
    assert result.outcome == AttemptOutcome.DELIVERED and result.status_code == 200
    assert elapsed < DEADLINE_SECONDS / 2
    assert dropped_after is not None and dropped_after < 2 * TRICKLE_SECONDS + 0.5


@pytest.mark.parametrize("trickling_server", ["status line"], indirect=True)
async def test_without_the_deadline_the_same_answer_holds_the_client(trickling_server: tuple[int, Trickle]) -> None:
    """The contrast: each byte comes well within the socket read timeout (10 s), so the client alone would wait on.
    It is post_webhook's total deadline that ends the attempt above, not a timeout of the client."""
    port, state = trickling_server
    async with make_egress_client(EgressSettings(allow_loopback=True), environment="test") as client:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(3 * DEADLINE_SECONDS):  # the test's own bound, three times the deadline
                await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
        elapsed = time.monotonic() - started
    tried("EgressClient.post alone (no total deadline) to the same server", f"still waiting after {elapsed:.2f} s, "
          f"{state.bytes_sent} bytes trickled in")  # fmt: skip
    assert elapsed >= 3 * DEADLINE_SECONDS and state.bytes_sent >= 9
