"""Small helpers shared by the Kafka and PostgreSQL runtimes: free ports, readiness waits, log tails."""

from __future__ import annotations

import contextlib
import signal
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import FrameType

LOOPBACK = "127.0.0.1"


class MissingPrerequisite(RuntimeError):
    """A tool the runtime needs (java, mvn, PostgreSQL binaries) is absent; tests skip (or fail in CI)."""


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """Ask the kernel for `count` distinct free TCP ports (all sockets held open together, so no duplicates)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


def free_port(host: str = LOOPBACK) -> int:
    """One free TCP port on `host`."""
    return free_ports(1, host)[0]


def port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something accepts a TCP connection on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_until(check: Callable[[], bool], timeout: float, interval: float = 0.2) -> bool:
    """Poll `check` until it returns True or `timeout` seconds pass; returns the last result."""
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def tail(path: Path, lines: int = 40) -> str:
    """Last `lines` lines of a log file, for error messages (empty string if unreadable)."""
    try:
        with path.open("rb") as fh:
            fh.seek(0, 2)
            size = fh.tell()
            fh.seek(max(0, size - 64 * 1024))
            data = fh.read().decode("utf-8", errors="replace")
    except OSError:
        return ""
    return "\n".join(data.splitlines()[-lines:])


def run_until_signalled(alive: Callable[[], bool], poll: float = 1.0) -> bool:
    """Block until SIGINT/SIGTERM (returns True) or until `alive()` turns False (returns False)."""
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        while not stop.wait(poll):
            if not alive():
                return False
        return True
    finally:
        for sig, old in previous.items():
            with contextlib.suppress(ValueError, TypeError):
                signal.signal(sig, old)


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise OSError("connection closed")
        buf += chunk
    return buf


def kafka_metadata_ok(host: str, port: int, timeout: float = 2.0) -> bool:
    """Send a raw Metadata v1 request; True when the broker lists itself and knows a controller."""
    client = b"careline-infra"
    req = struct.pack(">hhih", 3, 1, 7, len(client)) + client + struct.pack(">i", 0)
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(struct.pack(">i", len(req)) + req)
            data = _recv_exact(s, struct.unpack(">i", _recv_exact(s, 4))[0])
        corr, brokers = struct.unpack_from(">ii", data, 0)
        off = 8
        for _ in range(brokers):
            off += 4 + 2 + struct.unpack_from(">h", data, off + 4)[0] + 4  # node_id, host, port
            off += 2 + max(0, struct.unpack_from(">h", data, off)[0])  # nullable rack
        controller: int = struct.unpack_from(">i", data, off)[0]
        return corr == 7 and brokers >= 1 and controller >= 0
    except (OSError, struct.error):
        return False
