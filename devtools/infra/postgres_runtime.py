"""A real PostgreSQL server for the local run, tests and benchmarks.

Order: env DATABASE_URL (postgresql...) is used as is (external); otherwise a private cluster is initdb'd
under work_dir from the local server binaries (/usr/lib/postgresql/<highest>/bin, else PATH; installed with
apt-get when missing and running as root) and started on 127.0.0.1:<free port> with trust auth on loopback.
As root everything runs as the `postgres` user (initdb refuses root); if that user cannot reach work_dir
(e.g. pytest's 0700 tmp dirs) the cluster lives in /tmp/careline-pg-<hash of work_dir> instead.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import hashlib
import logging
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from devtools.infra.ports import LOOPBACK, MissingPrerequisite, free_port, port_open, run_until_signalled, tail

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
_DB_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class PostgresRuntimeError(RuntimeError):
    """The local PostgreSQL could not be created, started or stopped."""


class PostgresPrerequisiteMissing(MissingPrerequisite, PostgresRuntimeError):
    """No PostgreSQL server binaries, and they cannot be installed here."""


def find_pg_bin() -> Path | None:
    """Directory holding initdb and pg_ctl: highest /usr/lib/postgresql/<v>/bin, else the ones on PATH."""
    found: list[tuple[tuple[int, ...], Path]] = []
    for d in Path("/usr/lib/postgresql").glob("*/bin"):
        if (d / "initdb").is_file() and (d / "pg_ctl").is_file():
            with contextlib.suppress(ValueError):
                found.append((tuple(int(x) for x in d.parent.name.split(".")), d))
    if found:
        return max(found)[1]
    initdb, pg_ctl = shutil.which("initdb"), shutil.which("pg_ctl")
    return Path(initdb).resolve().parent if initdb and pg_ctl else None


def _ensure_pg_bin() -> Path:
    found = find_pg_bin()
    if found is not None:
        return found
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PostgresPrerequisiteMissing("no PostgreSQL server binaries (initdb/pg_ctl) and cannot apt-get")
    log.info("installing PostgreSQL with apt-get")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update"], ["apt-get", "install", "-y", "postgresql"]):
        res = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=1200, check=False)
        if res.returncode != 0:
            out = "\n".join((res.stdout + res.stderr).splitlines()[-20:])
            raise PostgresPrerequisiteMissing(f"{shlex.join(cmd)} failed:\n{out}")
    found = find_pg_bin()
    if found is None:
        raise PostgresPrerequisiteMissing("apt-get install postgresql brought no initdb/pg_ctl")
    return found


def _as_postgres(cmd: list[str]) -> list[str]:
    """As root, run `cmd` as the postgres user (initdb and postgres refuse to run as root)."""
    if os.geteuid() != 0:
        return cmd
    if shutil.which("runuser"):
        return ["runuser", "-u", "postgres", "--", *cmd]
    return ["su", "postgres", "-s", "/bin/sh", "-c", shlex.join(cmd)]


def _run_sync(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine to completion in a worker thread, so this also works inside a running event loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, make()).result()


def _execute(dsn: str, *statements: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(dsn, timeout=30)
        try:
            for sql in statements:
                await conn.execute(sql)
        finally:
            await conn.close()

    _run_sync(go)


@dataclass
class PostgresHandle:
    """A running local cluster (start/stop/kill for fault tests) or an external server (DATABASE_URL)."""

    url: str  # SQLAlchemy async URL
    kind: str  # "external" | "local"
    _bin: Path | None = field(default=None, repr=False)
    _base: Path | None = field(default=None, repr=False)
    _port: int = field(default=0, repr=False)
    _admin_dsn: str = field(default="", repr=False)

    def _pg_ctl(self, *args: str) -> int:
        assert self._bin is not None and self._base is not None
        cmd = _as_postgres([str(self._bin / "pg_ctl"), "-D", str(self._base / "data"), *args])
        with (self._base / "pg_ctl.out").open("ab") as out:
            return subprocess.run(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self._base,
                start_new_session=True,
                timeout=180,
                check=False,
            ).returncode

    def _local(self) -> Path:
        if self.kind != "local" or self._base is None:
            raise PostgresRuntimeError(f"start/stop/kill need the local server, this one is {self.kind!r}")
        return self._base

    @property
    def is_running(self) -> bool:
        """External: assumed up. Local: the postmaster named in postmaster.pid is alive."""
        if self.kind == "external" or self._base is None:
            return self.kind == "external"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int((self._base / "data" / "postmaster.pid").read_text().split()[0]), 0)
            return True
        return False

    def start(self) -> None:
        """Start on the same port and data dir; returns once it accepts TCP connections."""
        base = self._local()
        if self.is_running:
            return
        opts = (
            f"-c listen_addresses={LOOPBACK} -p {self._port} -k {shlex.quote(str(base / 'sock'))} "
            "-c fsync=on -c max_connections=200"
        )
        rc = self._pg_ctl("-l", str(base / "postgres.log"), "-w", "-t", "120", "-o", opts, "start")
        if rc != 0 or not port_open(LOOPBACK, self._port):
            raise PostgresRuntimeError(
                f"PostgreSQL did not start on port {self._port} (rc={rc}):\n"
                f"{tail(base / 'pg_ctl.out', 10)}\n{tail(base / 'postgres.log')}"
            )

    def _stop(self, mode: str) -> None:
        if self.kind == "external" or self._base is None or not self.is_running:
            return
        if self._pg_ctl("-m", mode, "-w", "-t", "120", "stop") != 0:
            raise PostgresRuntimeError(f"pg_ctl stop -m {mode} failed:\n{tail(self._base / 'pg_ctl.out', 10)}")

    def stop(self) -> None:
        """Clean stop (pg_ctl stop -m fast); idempotent; no-op for an external server."""
        self._stop("fast")

    def kill(self) -> None:
        """Crash-like stop (-m immediate, recovery on next start); data kept."""
        self._local()
        self._stop("immediate")

    def create_database(self, name: str) -> str:
        """Create database `name` (must not exist yet) and return its async URL, for test isolation."""
        if not _DB_NAME.match(name):
            raise ValueError(f"invalid database name {name!r}")
        _execute(self._admin_dsn, f'CREATE DATABASE "{name}"')
        return make_url(self.url).set(database=name).render_as_string(hide_password=False)


def _postgres_can_reach(path: Path) -> bool:
    cmd = _as_postgres(["test", "-x", str(path)])
    return subprocess.run(cmd, capture_output=True, timeout=30, check=False).returncode == 0


def _choose_base(work_dir: Path) -> Path:
    base = work_dir / "postgres"
    base.mkdir(parents=True, exist_ok=True)
    socket_path = base / "sock" / ".s.PGSQL.65535"
    if len(str(socket_path)) > 100 or (os.geteuid() == 0 and not _postgres_can_reach(base)):
        digest = hashlib.sha1(str(work_dir).encode(), usedforsecurity=False).hexdigest()[:12]
        base = Path(tempfile.gettempdir()) / f"careline-pg-{digest}"
        atexit.register(shutil.rmtree, base, True)  # runs after the handle's stop (atexit is LIFO)
    return base


def _start_local(work_dir: Path, database: str) -> PostgresHandle:
    pg_bin = _ensure_pg_bin()
    base = _choose_base(work_dir)
    if (base / "data" / "postmaster.pid").exists():  # left over by an abruptly ended run
        PostgresHandle("", "local", pg_bin, base)._pg_ctl("-m", "immediate", "-w", "stop")
    shutil.rmtree(base, ignore_errors=True)
    (base / "sock").mkdir(parents=True)
    if os.geteuid() == 0:
        pw = pwd.getpwnam("postgres")
        for p in (base, base / "sock"):
            os.chown(p, pw.pw_uid, pw.pw_gid)
    init = _as_postgres(
        [str(pg_bin / "initdb"), "-D", str(base / "data"), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C"]
    )
    res = subprocess.run(init, cwd=base, capture_output=True, text=True, timeout=300, check=False)
    if res.returncode != 0:
        raise PostgresRuntimeError(f"initdb failed (rc={res.returncode}):\n{res.stdout}{res.stderr}")
    port = free_port()
    admin = f"postgresql://postgres@{LOOPBACK}:{port}/postgres"
    url = f"postgresql+asyncpg://postgres@{LOOPBACK}:{port}/{database}"
    handle = PostgresHandle(url, "local", pg_bin, base, port, admin)
    handle.start()
    atexit.register(handle.stop)
    handle.create_database(database)
    return handle


def provide_postgres(work_dir: Path, *, database: str = "careline") -> PostgresHandle:
    """Return a ready PostgreSQL: external via DATABASE_URL, else a fresh local cluster in work_dir."""
    env = os.environ.get("DATABASE_URL", "").strip()
    if env.startswith("postgresql"):
        url = make_url(env)
        if url.drivername == "postgresql":
            url = url.set(drivername="postgresql+asyncpg")
        admin = url.set(drivername="postgresql").render_as_string(hide_password=False)
        return PostgresHandle(url.render_as_string(hide_password=False), "external", _admin_dsn=admin)
    if not _DB_NAME.match(database):
        raise ValueError(f"invalid database name {database!r}")
    t0 = time.monotonic()
    handle = _start_local(Path(work_dir).resolve(), database)
    log.info("PostgreSQL ready at %s in %.1fs (data: %s)", handle.url, time.monotonic() - t0, handle._base)
    return handle


def main(argv: list[str] | None = None) -> int:
    """CLI: start a local PostgreSQL, print DATABASE_URL=..., run until SIGINT/SIGTERM, stop cleanly."""
    parser = argparse.ArgumentParser(prog="python -m devtools.infra.postgres_runtime", description=main.__doc__)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".run" / "postgres")
    parser.add_argument("--database", default="careline")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    handle = provide_postgres(args.work_dir, database=args.database)
    print(f"DATABASE_URL={handle.url}", flush=True)
    try:
        clean = run_until_signalled(lambda: handle.is_running)
    finally:
        handle.stop()
    if not clean:
        print("PostgreSQL exited unexpectedly", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
