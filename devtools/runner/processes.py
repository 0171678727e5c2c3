"""One service as an OS process: started with its environment, health-checked, killable, restartable.

Fault tests need real processes (SIGKILL, SIGTERM), so the tests use the same launcher as the local run.
"""

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from shared.settings import REPO_ROOT


class ServiceFailed(RuntimeError):
    """A service exited or never became healthy; the message carries the tail of its log."""


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


@dataclass
class ServiceProcess:
    name: str
    module: str
    port: int
    env: dict[str, str]
    log_dir: Path
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", self.module],
                cwd=REPO_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def is_running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=1.0).status_code == 200
        except httpx.HTTPError:
            return False

    def wait_healthy(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.is_running():
                raise ServiceFailed(f"{self.name} exited early:\n{_tail(self.log_path)}")
            if self.healthy():
                return
            time.sleep(0.2)
        raise ServiceFailed(f"{self.name} not healthy after {timeout:.0f}s:\n{_tail(self.log_path)}")

    def kill(self) -> None:
        """SIGKILL: no shutdown hooks, no final commit; what a crash looks like."""
        if self.is_running():
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def terminate(self, timeout: float = 45.0) -> None:
        """SIGTERM and wait for a graceful shutdown; SIGKILL if it does not come."""
        self.ask_to_stop()
        self.wait_stopped(timeout)

    def ask_to_stop(self) -> None:
        """SIGTERM without waiting, so that several services can shut down at the same time."""
        if self.is_running():
            assert self.process is not None
            self.process.send_signal(signal.SIGTERM)

    def wait_stopped(self, timeout: float = 45.0) -> None:
        """Wait for the graceful shutdown ``ask_to_stop`` began; SIGKILL if it does not come."""
        if self.is_running():
            assert self.process is not None
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self, timeout: float = 60.0) -> None:
        self.terminate()
        self.start()
        self.wait_healthy(timeout)
