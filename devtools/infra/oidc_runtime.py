"""A real OpenID Connect provider for tests: navikt's mock-oauth2-server, run from Maven Central jars.

Resolved like the Kafka broker (deploy/oidc/pom.xml, `copy_maven_dependencies` from kafka_runtime) into
$OIDC_CACHE_DIR (default <repo>/.cache/oidc)/<version>/libs, with its own Maven repository in <cache>/m2, and
started as the standalone server on 127.0.0.1 and a free port. Its issuers are <base>/<issuer id> (any id;
`default` is the one waited for). JSON_CONFIG (the server's own format) makes login non-interactive with fixed
claims. Test use only: it signs whatever it is asked to.
"""

from __future__ import annotations

import argparse
import atexit
import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools.infra import ports
from devtools.infra.kafka_runtime import copy_maven_dependencies, find_java
from devtools.infra.ports import LOOPBACK, MissingPrerequisite, tail

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
POM = REPO_ROOT / "deploy" / "oidc" / "pom.xml"
# 6.0.2 is the newest release and is compiled for Java 17 (Gradle metadata org.gradle.jvm.version=17).
DEFAULT_VERSION = "6.0.2"
MAIN_CLASS = "no.nav.security.mock.oauth2.StandaloneMockOAuth2ServerKt"
START_TIMEOUT = 120.0
# Small heap and C1 only: a test provider on a 2-core machine should start fast and stay out of the way.
JVM_FLAGS = ["-Xms32m", "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Djava.awt.headless=true"]


class OidcRuntimeError(RuntimeError):
    """The provider could not be resolved or started."""


class OidcPrerequisiteMissing(MissingPrerequisite, OidcRuntimeError):
    """java 17+ or mvn is missing."""


def _cache_root() -> Path:
    env = os.environ.get("OIDC_CACHE_DIR")
    return (Path(env) if env else REPO_ROOT / ".cache" / "oidc").resolve()


def resolve_provider_jars(version: str = DEFAULT_VERSION, cache_root: Path | None = None) -> Path:
    """<cache>/<version>/libs with the server's classpath; mvn runs only when it is not cached yet."""
    root = (cache_root or _cache_root()).resolve()
    return copy_maven_dependencies(
        POM,
        root / version,
        [f"-Dmock-oauth2-server.version={version}"],
        lambda libs: (libs / f"mock-oauth2-server-{version}.jar").is_file(),
        f"mock-oauth2-server {version}",
        error=OidcRuntimeError,
        missing=OidcPrerequisiteMissing,
    )


def _discovery_ok(url: str) -> bool:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never via a proxy
    try:
        with opener.open(url, timeout=2) as response:
            return response.status == 200 and "issuer" in json.loads(response.read())
    except (OSError, ValueError):
        return False


@dataclass
class OidcProviderHandle:
    """A running mock-oauth2-server; `issuer(id)` is that issuer's URL (its `iss` and discovery base)."""

    base_url: str
    version: str
    resolve_seconds: float
    startup_seconds: float
    log_path: Path
    _proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def issuer(self, issuer_id: str = "default") -> str:
        return f"{self.base_url}/{issuer_id}"

    @property
    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self) -> None:
        """SIGTERM, SIGKILL after 10 s; idempotent."""
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def provide_oidc_provider(
    work_dir: Path, *, json_config: dict[str, Any] | None = None, version: str = DEFAULT_VERSION
) -> OidcProviderHandle:
    """Resolve the jars (cached), start the server on a free loopback port, wait for the `default` issuer's
    discovery document. `json_config` is the server's JSON_CONFIG; its HTTP server defaults to Netty here."""
    try:
        java = find_java()
    except MissingPrerequisite as exc:
        raise OidcPrerequisiteMissing(f"mock-oauth2-server needs Java 17+: {exc}") from exc
    t0 = time.monotonic()
    libs = resolve_provider_jars(version)
    resolved = time.monotonic() - t0
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)  # also its cwd: no stray config.json is read from elsewhere
    port = ports.free_port()
    env = {**os.environ, "SERVER_PORT": str(port), "SERVER_HOSTNAME": LOOPBACK}
    env.pop("JSON_CONFIG_PATH", None)
    if json_config is not None:
        env["JSON_CONFIG"] = json.dumps({"httpServer": "NettyWrapper", **json_config})
    log_path = work_dir / "mock-oauth2-server.log"
    t1 = time.monotonic()
    with log_path.open("ab") as out:
        proc = subprocess.Popen(
            [java, *JVM_FLAGS, "-cp", f"{libs}/*", MAIN_CLASS],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=work_dir,
            env=env,
            start_new_session=True,  # a terminal Ctrl-C reaches Python, which stops the server
        )
    handle = OidcProviderHandle(f"http://{LOOPBACK}:{port}", version, resolved, 0.0, log_path, proc)
    discovery = f"{handle.issuer()}/.well-known/openid-configuration"

    def ready() -> bool:
        if proc.poll() is not None:
            raise OidcRuntimeError(f"mock-oauth2-server exited with rc={proc.returncode}")
        return _discovery_ok(discovery)

    try:
        if not ports.wait_until(ready, START_TIMEOUT):
            raise OidcRuntimeError(f"mock-oauth2-server not ready on {handle.base_url} within {START_TIMEOUT:.0f}s")
    except OidcRuntimeError as exc:
        handle.stop()
        raise OidcRuntimeError(f"{exc}; tail of {log_path}:\n{tail(log_path)}") from None
    handle.startup_seconds = time.monotonic() - t1
    atexit.register(handle.stop)
    log.info("mock-oauth2-server %s ready on %s in %.1fs", version, handle.base_url, handle.startup_seconds)
    return handle


def main(argv: list[str] | None = None) -> int:
    """CLI: start a provider (interactive login page) and print its issuer, or --resolve-only warm the cache."""
    parser = argparse.ArgumentParser(prog="python -m devtools.infra.oidc_runtime", description=main.__doc__)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".run" / "oidc")
    parser.add_argument("--version", default=DEFAULT_VERSION)
    parser.add_argument("--resolve-only", action="store_true", help="download the jars into the cache, exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.resolve_only:
        t0 = time.monotonic()
        libs = resolve_provider_jars(args.version)
        print(f"mock-oauth2-server {args.version} jars in {libs} ({time.monotonic() - t0:.1f}s)", flush=True)
        return 0
    handle = provide_oidc_provider(args.work_dir, version=args.version)
    print(f"OPS_OIDC_ISSUER={handle.issuer()}", flush=True)
    try:
        clean = ports.run_until_signalled(lambda: handle.is_running)
    finally:
        handle.stop()
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
