"""A real Apache Kafka broker (or a three-broker cluster) for the local run, tests and benchmarks.

Order: env KAFKA_BOOTSTRAP_SERVERS (external) -> Docker via testcontainers -> a KRaft broker whose jars Maven
resolves from Maven Central (no tarball or Docker needed). Env KAFKA_PROVIDER=maven|docker forces a provider.
KAFKA_CLUSTER_SIZE=3 makes the maven provider start three nodes on loopback (each broker and controller, a
static quorum of three, own ports and data dir; replication factor 3, min.insync.replicas 2, unclean leader
election off); `KafkaHandle.replication_factor` says what topics should use.
Jars are cached in $KAFKA_CACHE_DIR (default <repo>/.cache/kafka)/<version>/libs, with a private Maven
repository in <cache>/m2 so CI can cache one folder.
"""

from __future__ import annotations

import argparse
import atexit
import base64
import contextlib
import fcntl
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from devtools.infra import ports
from devtools.infra.ports import LOOPBACK, MissingPrerequisite, tail

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY_DIR = REPO_ROOT / "deploy" / "kafka"
DEFAULT_VERSION = "4.1.1"
FALLBACK_VERSION = "3.9.1"
READY_LINE = b"Kafka Server started"
START_TIMEOUT = 120.0
STOP_GRACE = 30.0
JVM_FLAGS = (
    "-Xms256m -Xmx768m -server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35 "
    "-XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true"
).split()
# Cluster nodes run with a small heap and the quick-starting C1 compiler: three JVMs share two cores and a few GB
# (KAFKA_CLUSTER_HEAP overrides).
CLUSTER_HEAP = os.environ.get("KAFKA_CLUSTER_HEAP", "-Xms128m -Xmx256m -XX:TieredStopAtLevel=1").split()
# Each node is broker+controller with a static quorum (one voter, as the official image, or three);
# topics are created explicitly. A short broker session: after a SIGKILL the restarted broker is unfenced in
# 6 s instead of 13 s, and a killed one is fenced (out of every ISR) after 3 s. The log cleaner's 128 MB default
# dedupe buffer would not fit a cluster node's heap (OutOfMemoryError at start); 16 MB is plenty here.
# metadata.max.idle.interval.ms stays at its default (500 ms): at 5 s the idle broker saved ~0.5 % of a core, but
# the bench's B4 at 10 reports/s went from p99 43 ms to 1.1-1.2 s (measured back to back; likely requests that
# wait for the broker's metadata to catch up, which on a quiet metadata log happens with that no-op record).
SERVER_PROPERTIES = """\
process.roles=broker,controller
node.id={node_id}
controller.quorum.voters={voters}
listeners=PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller_port}
advertised.listeners=PLAINTEXT://{host}:{port}
inter.broker.listener.name=PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs={data}
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor={rf}
offsets.topic.num.partitions=1
transaction.state.log.replication.factor={rf}
transaction.state.log.min.isr={min_isr}
transaction.state.log.num.partitions=1
default.replication.factor={rf}
min.insync.replicas={min_isr}
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
broker.session.timeout.ms=3000
broker.heartbeat.interval.ms=500
num.network.threads=2
num.io.threads=2
log.cleaner.dedupe.buffer.size=16777216
"""
SHARE_COORDINATOR_PROPERTIES = """\
share.coordinator.state.topic.replication.factor={rf}
share.coordinator.state.topic.min.isr={min_isr}
"""


class KafkaRuntimeError(RuntimeError):
    """The broker could not be resolved, started or controlled."""


class KafkaPrerequisiteMissing(MissingPrerequisite, KafkaRuntimeError):
    """java 17+ or mvn is missing."""


def _series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def _default_cache_root() -> Path:
    env = os.environ.get("KAFKA_CACHE_DIR")
    return Path(env) if env else REPO_ROOT / ".cache" / "kafka"


def _jars_present(libs: Path, version: str) -> bool:
    return (libs / f"kafka_2.13-{version}.jar").is_file()


def copy_maven_dependencies(
    pom: Path,
    vdir: Path,
    props: Sequence[str],
    complete: Callable[[Path], bool],
    what: str,
    *,
    error: type[RuntimeError] = KafkaRuntimeError,
    missing: type[RuntimeError] = KafkaPrerequisiteMissing,
) -> Path:
    """Run `mvn dependency:copy-dependencies` for `pom` into <vdir>/libs, once: a file lock serialises parallel
    workers, the jars land in libs.partial first and are renamed only when `complete(dir)` says they are all there.
    The private Maven repository is <vdir>/../m2 so CI can cache one folder. Also used by the OIDC test provider."""
    libs = vdir / "libs"
    if complete(libs):
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise missing(f"mvn not on PATH and {what} jars not cached in {libs}")
    vdir.mkdir(parents=True, exist_ok=True)
    with (vdir / ".lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # parallel workers/CI jobs resolve one at a time; released on close
        if complete(libs):
            return libs
        shutil.copyfile(pom, vdir / "pom.xml")
        partial = vdir / "libs.partial"
        shutil.rmtree(partial, ignore_errors=True)
        repo = vdir.parent / "m2"
        cmd = [mvn, "-B", "-q", "-Dstyle.color=never", "-f", str(vdir / "pom.xml"), f"-Dmaven.repo.local={repo}"]
        cmd += [*props, f"-DoutputDirectory={partial}", "-DincludeScope=runtime", "dependency:copy-dependencies"]
        t0 = time.monotonic()
        try:
            res = subprocess.run(cmd, cwd=vdir, capture_output=True, text=True, timeout=900, check=False)
        except subprocess.TimeoutExpired as exc:
            raise error(f"mvn timed out resolving {what}") from exc
        if res.returncode != 0 or not complete(partial):
            out = "\n".join((res.stdout + res.stderr).splitlines()[-30:])
            raise error(f"mvn could not resolve {what} (rc={res.returncode}):\n{out}")
        shutil.rmtree(libs, ignore_errors=True)
        partial.rename(libs)
        log.info("resolved %s jars into %s in %.1fs", what, libs, time.monotonic() - t0)
    return libs


def resolve_kafka_jars(version: str, cache_root: Path | None = None) -> Path:
    """Return <cache>/<version>/libs with the broker classpath, running mvn only when it is not cached."""
    root = (cache_root or _default_cache_root()).resolve()
    libs = root / version / "libs"
    if _jars_present(libs, version):
        return libs
    pom = DEPLOY_DIR / {"4.1": "pom-4.1.xml", "3.9": "pom-3.9.xml"}.get(_series(version), "")
    if not pom.is_file():
        raise KafkaRuntimeError(f"no POM for Kafka {version} (supported: 4.1.x, 3.9.x)")
    props = [f"-Dkafka.version={version}"]
    if _series(version) == "4.1":
        props.append(f"-Dlog4j2.version={'2.24.3' if version in ('4.1.0', '4.1.1') else '2.25.3'}")
    return copy_maven_dependencies(pom, root / version, props, lambda d: _jars_present(d, version), f"Kafka {version}")


@lru_cache(maxsize=1)
def find_java() -> str:
    """Path of a Java 17+ executable (JAVA_HOME first, then PATH)."""
    home = os.environ.get("JAVA_HOME")
    java = str(Path(home) / "bin" / "java") if home and (Path(home) / "bin" / "java").exists() else None
    java = java or shutil.which("java")
    if java is None:
        raise KafkaPrerequisiteMissing("java not found: set JAVA_HOME or put Java 17+ on PATH")
    res = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60, check=False)
    m = re.search(r'version "(\d+)(?:\.(\d+))?', res.stderr + res.stdout)
    major = int(m.group(1)) if m else 0
    if major == 1 and m:
        major = int(m.group(2) or 0)
    if major < 17:
        raise KafkaPrerequisiteMissing(f"{java} is Java {major or '?'}; the Kafka broker needs Java 17+")
    return java


@dataclass
class _Broker:
    """One JVM broker process bound to fixed ports and a data dir, so it can be killed and relaunched."""

    java: str
    libs: Path
    version: str
    work_dir: Path
    port: int
    controller_port: int
    node_id: int = 1
    voters: str = ""  # controller.quorum.voters; empty: this node alone
    replication_factor: int = 1
    heap: list[str] = field(default_factory=lambda: list(JVM_FLAGS))
    proc: subprocess.Popen[bytes] | None = None

    @property
    def log_path(self) -> Path:
        return self.work_dir / "kafka.log"

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _java(self, *args: str, heap: list[str]) -> list[str]:
        if _series(self.version) == "3.9":
            logcfg = f"-Dlog4j.configuration=file:{DEPLOY_DIR / 'log4j.properties'}"
        else:
            logcfg = f"-Dlog4j2.configurationFile={DEPLOY_DIR / 'log4j2.properties'}"
        return [self.java, *heap, logcfg, f"-Dkafka.logs.dir={self.work_dir / 'logs'}", "-cp", f"{self.libs}/*", *args]

    def write_config_and_format(self, cluster_id: str | None = None) -> None:
        """Write server.properties (static quorum) and format a fresh data dir (cluster nodes share one id)."""
        self.work_dir.mkdir(parents=True, exist_ok=True)
        data = self.work_dir / "kafka-data"
        shutil.rmtree(data, ignore_errors=True)
        rf = self.replication_factor
        values = {
            "host": LOOPBACK,
            "port": self.port,
            "controller_port": self.controller_port,
            "data": data,
            "node_id": self.node_id,
            "voters": self.voters or f"{self.node_id}@{LOOPBACK}:{self.controller_port}",
            "rf": rf,
            "min_isr": max(1, rf - 1),
        }
        props = SERVER_PROPERTIES.format(**values)
        if _series(self.version) != "3.9":
            props += SHARE_COORDINATOR_PROPERTIES.format(**values)
        (self.work_dir / "server.properties").write_text(props)
        cid = cluster_id or new_cluster_id()
        config = str(self.work_dir / "server.properties")
        cmd = self._java("kafka.tools.StorageTool", "format", f"--cluster-id={cid}", "-c", config, heap=["-Xmx256m"])
        with self.log_path.open("ab") as out:
            rc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, cwd=self.work_dir, check=False)
        if rc.returncode != 0:
            raise KafkaRuntimeError(f"StorageTool format failed (rc={rc.returncode}):\n{tail(self.log_path)}")

    def launch(self, timeout: float = START_TIMEOUT) -> None:
        """Start the JVM (output to kafka.log) and wait for the ready log line plus a metadata answer."""
        self.wait_ready(self.spawn(), timeout)

    def spawn(self) -> int:
        """Start the JVM without waiting (cluster nodes start together: each needs the quorum); returns the log
        offset to wait from."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        cmd = self._java("kafka.Kafka", str(self.work_dir / "server.properties"), heap=self.heap)
        with self.log_path.open("ab") as out:
            # own session: a terminal Ctrl-C reaches Python (which stops the broker cleanly), not the JVM
            self.proc = subprocess.Popen(
                cmd,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.work_dir,
                start_new_session=True,
            )
        (self.work_dir / "kafka.pid").write_text(str(self.proc.pid))
        return offset

    def wait_ready(self, offset: int, timeout: float = START_TIMEOUT) -> None:
        def ready() -> bool:
            if not self.running:
                raise KafkaRuntimeError(f"Kafka {self.version} broker exited with rc={self.proc and self.proc.poll()}")
            with self.log_path.open("rb") as fh:
                fh.seek(offset)
                started = READY_LINE in fh.read()
            return started and ports.kafka_metadata_ok(LOOPBACK, self.port)

        try:
            if not ports.wait_until(ready, timeout):
                raise KafkaRuntimeError(
                    f"Kafka {self.version} not ready on {LOOPBACK}:{self.port} within {timeout:.0f}s"
                )
        except KafkaRuntimeError as exc:
            self.kill()
            raise KafkaRuntimeError(f"{exc}; tail of {self.log_path}:\n{tail(self.log_path)}") from None

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def shutdown(self, grace: float = STOP_GRACE) -> None:
        """SIGTERM (Kafka's shutdown hook runs a clean shutdown), SIGKILL if it takes longer than `grace`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            log.warning("Kafka broker pid %d ignored SIGTERM for %.0fs; killing it", self.proc.pid, grace)
            self.kill()


def new_cluster_id() -> str:
    cid = ""
    while not cid or cid.startswith("-"):
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    return cid


def _reap_stale_broker(work_dir: Path) -> None:
    """Kill a broker a previous, abruptly ended run left behind in this work dir (it holds the data dir)."""
    pid_file = work_dir / "kafka.pid"
    with contextlib.suppress(OSError, ValueError):
        pid = int(pid_file.read_text().strip())
        if b"kafka.Kafka" in Path(f"/proc/{pid}/cmdline").read_bytes():
            os.kill(pid, signal.SIGKILL)
            ports.wait_until(lambda: not Path(f"/proc/{pid}").exists(), 10)


@dataclass
class KafkaHandle:
    """A running (or external) broker; kill/terminate/restart exist for fault tests on the maven kind."""

    bootstrap_servers: str
    kind: str  # "external" | "testcontainers" | "maven"
    version: str | None
    startup_seconds: float
    _broker: _Broker | None = field(default=None, repr=False)
    _container: Any = field(default=None, repr=False)
    # A maven cluster: every node (node id -> broker); kill/terminate/restart then act on all of them.
    nodes: dict[int, _Broker] = field(default_factory=dict, repr=False)
    replication_factor: int = 1

    def stop(self) -> None:
        """Stop cleanly (SIGTERM, SIGKILL after 30 s); idempotent; no-op for an external broker."""
        if self._broker is not None:
            self._broker.shutdown(STOP_GRACE)
        for node in self.nodes.values():
            node.shutdown(STOP_GRACE)
        if self._container is not None:
            container, self._container = self._container, None
            container.stop()

    def _maven(self) -> _Broker:
        if self._broker is None:
            raise KafkaRuntimeError(f"kill/terminate/restart need the maven broker, this one is {self.kind!r}")
        return self._broker

    def kill(self) -> None:
        """SIGKILL the broker JVM (every node of a cluster) and wait for it; the data dir is kept."""
        if self.nodes:
            for node in self.nodes.values():
                node.kill()
            return
        self._maven().kill()

    def terminate(self) -> None:
        """SIGTERM and wait for the clean shutdown; the data dir is kept."""
        if self.nodes:
            for node in self.nodes.values():
                node.shutdown(STOP_GRACE)
            return
        self._maven().shutdown(STOP_GRACE)

    def restart(self) -> None:
        """Start again on the same ports and data dir (no re-format) and wait until ready."""
        if self.nodes:
            for node in self.nodes.values():
                node.shutdown(STOP_GRACE)
            offsets = {node_id: node.spawn() for node_id, node in self.nodes.items()}
            for node_id, offset in offsets.items():
                self.nodes[node_id].wait_ready(offset)
            return
        broker = self._maven()
        broker.shutdown(STOP_GRACE)
        broker.launch()

    def _node(self, node_id: int) -> _Broker:
        if node_id not in self.nodes:
            raise KafkaRuntimeError(f"no cluster node {node_id} (nodes: {sorted(self.nodes)})")
        return self.nodes[node_id]

    def kill_node(self, node_id: int) -> None:
        """SIGKILL one cluster node (broker and controller), as Kafka's ReplicationTest hard_bounce does."""
        self._node(node_id).kill()

    def terminate_node(self, node_id: int) -> None:
        """Clean shutdown of one node: it hands its leaderships over before it exits."""
        self._node(node_id).shutdown(STOP_GRACE)

    def start_node(self, node_id: int) -> None:
        """Start a stopped node on its ports and data dir and wait until it answers."""
        node = self._node(node_id)
        if not node.running:
            node.launch()

    def node_running(self, node_id: int) -> bool:
        return self._node(node_id).running

    def node_address(self, node_id: int) -> str:
        return f"{LOOPBACK}:{self._node(node_id).port}"

    @property
    def is_running(self) -> bool:
        if self.nodes:
            return all(node.running for node in self.nodes.values())
        if self._broker is not None:
            return self._broker.running
        return self.kind == "external" or self._container is not None


def _docker_available() -> bool:
    try:
        import docker

        client = docker.from_env(timeout=5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


def _start_container(version: str) -> KafkaHandle:
    """apache/kafka image; its default config advertises localhost:9092, hence the fixed port binding."""
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import LogMessageWaitStrategy

    t0 = time.monotonic()
    container = DockerContainer(f"apache/kafka:{version}").with_bind_ports(9092, 9092)
    container.waiting_for(LogMessageWaitStrategy("Kafka Server started").with_startup_timeout(180))
    container.start()
    return KafkaHandle("localhost:9092", "testcontainers", version, time.monotonic() - t0, _container=container)


def _start_maven(work_dir: Path, version: str) -> KafkaHandle:
    java = find_java()
    libs = resolve_kafka_jars(version)
    t0 = time.monotonic()
    port, controller_port = ports.free_ports(2)
    broker = _Broker(java, libs, version, work_dir, port, controller_port)
    broker.write_config_and_format()
    broker.launch()
    took = time.monotonic() - t0
    log.info("Kafka %s ready on %s:%d in %.1fs (log: %s)", version, LOOPBACK, port, took, broker.log_path)
    return KafkaHandle(f"{LOOPBACK}:{port}", "maven", version, took, _broker=broker)


def _start_maven_cluster(work_dir: Path, version: str, size: int) -> KafkaHandle:
    """`size` nodes, each broker+controller, one static quorum; every node formatted with one cluster id and
    started at once (a node's broker waits for the quorum), each in <work_dir>/node-<id>."""
    java = find_java()
    libs = resolve_kafka_jars(version)
    t0 = time.monotonic()
    numbers = ports.free_ports(2 * size)
    ids = range(1, size + 1)
    voters = ",".join(f"{i}@{LOOPBACK}:{numbers[2 * (i - 1) + 1]}" for i in ids)
    rf = min(size, 3)
    nodes: dict[int, _Broker] = {}
    cluster_id = new_cluster_id()
    for i in ids:
        node_dir = work_dir / f"node-{i}"
        _reap_stale_broker(node_dir)
        port, controller_port = numbers[2 * (i - 1)], numbers[2 * (i - 1) + 1]
        nodes[i] = _Broker(java, libs, version, node_dir, port, controller_port, i, voters, rf, list(CLUSTER_HEAP))
        nodes[i].write_config_and_format(cluster_id)
    offsets = {i: node.spawn() for i, node in nodes.items()}
    try:
        for i, offset in offsets.items():
            nodes[i].wait_ready(offset)
    except KafkaRuntimeError:
        for node in nodes.values():
            node.kill()
        raise
    took = time.monotonic() - t0
    bootstrap = ",".join(f"{LOOPBACK}:{node.port}" for node in nodes.values())
    log.info("Kafka %s cluster of %d ready on %s in %.1fs", version, size, bootstrap, took)
    return KafkaHandle(bootstrap, "maven", version, took, nodes=nodes, replication_factor=rf)


def cluster_size() -> int:
    """KAFKA_CLUSTER_SIZE (default 1): how many nodes the maven provider starts."""
    raw = os.environ.get("KAFKA_CLUSTER_SIZE", "1").strip() or "1"
    size = int(raw)
    if size < 1:
        raise KafkaRuntimeError(f"KAFKA_CLUSTER_SIZE must be 1 or more, not {raw}")
    return size


def provide_kafka_cluster(work_dir: Path, size: int = 3, *, version: str = DEFAULT_VERSION) -> KafkaHandle:
    """A fresh maven cluster of `size` nodes in work_dir, whatever the environment says (fault tests)."""
    work_dir = Path(work_dir).resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    handle = _start_maven_cluster(work_dir, version, size)
    atexit.register(handle.stop)
    return handle


def provide_kafka(work_dir: Path, *, version: str = DEFAULT_VERSION) -> KafkaHandle:
    """Return a ready broker (see module doc for the order); a maven broker starts fresh in work_dir."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "").strip()
    if external:
        return KafkaHandle(external, "external", None, 0.0)
    mode = os.environ.get("KAFKA_PROVIDER", "auto").strip().lower()
    if mode == "docker" or (mode != "maven" and _docker_available()):
        handle = _start_container(version)
    else:
        work_dir = Path(work_dir).resolve()
        work_dir.mkdir(parents=True, exist_ok=True)
        if cluster_size() > 1:
            return provide_kafka_cluster(work_dir, cluster_size(), version=version)
        _reap_stale_broker(work_dir)
        try:
            handle = _start_maven(work_dir, version)
        except KafkaRuntimeError as first:
            if version == FALLBACK_VERSION:
                raise
            log.warning("Kafka %s failed (%s); falling back to %s", version, first, FALLBACK_VERSION)
            try:
                handle = _start_maven(work_dir, FALLBACK_VERSION)
            except KafkaRuntimeError as second:
                raise second from first
    atexit.register(handle.stop)
    return handle


def main(argv: list[str] | None = None) -> int:
    """CLI: start a broker and print its bootstrap line, or (--resolve-only) just warm the jar cache."""
    parser = argparse.ArgumentParser(prog="python -m devtools.infra.kafka_runtime", description=main.__doc__)
    parser.add_argument("--work-dir", type=Path, default=REPO_ROOT / ".run" / "kafka")
    parser.add_argument("--kafka-version", default=DEFAULT_VERSION)
    parser.add_argument("--resolve-only", action="store_true", help="download the jars into the cache, exit")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.resolve_only:
        t0 = time.monotonic()
        libs = resolve_kafka_jars(args.kafka_version)
        print(f"Kafka {args.kafka_version} jars in {libs} ({time.monotonic() - t0:.1f}s)", flush=True)
        return 0
    handle = provide_kafka(args.work_dir, version=args.kafka_version)
    print(f"KAFKA_BOOTSTRAP_SERVERS={handle.bootstrap_servers}", flush=True)
    print(f"KAFKA_REPLICATION_FACTOR={handle.replication_factor}", flush=True)
    print(f"kafka kind={handle.kind} version={handle.version} started in {handle.startup_seconds:.1f}s", flush=True)
    try:
        clean = ports.run_until_signalled(lambda: handle.is_running)
    finally:
        handle.stop()
    if not clean:
        print("Kafka broker exited unexpectedly", file=sys.stderr)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
