"""The whole pipeline on this machine: Kafka, every service, the recipient simulator, a stream of sample
Careline reports, and the dashboard. Prints what was received, delivered and acknowledged until stopped."""

import argparse
import itertools
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import httpx

from devtools.infra.kafka_runtime import provide_kafka
from devtools.infra.ports import free_ports
from devtools.runner.pipeline import Pipeline, PipelineConfig
from devtools.runner.samples import all_town_names, sample_report
from shared.events import RecipientKind
from shared.settings import REPO_ROOT

KINDS = tuple(k.value for k in RecipientKind)


def start_prometheus(pipeline: Pipeline, work: Path) -> subprocess.Popen[bytes] | None:
    """Where Debian's `prometheus` is installed, a real server scrapes every service with the alert rules."""
    binary = shutil.which("prometheus")
    if binary is None:
        return None
    folder = work / "prometheus"
    folder.mkdir(exist_ok=True)
    shutil.copy(REPO_ROOT / "deploy" / "prometheus" / "alerts.yml", folder / "alerts.yml")
    jobs = "".join(
        f"  - job_name: {name}\n    static_configs: [{{targets: ['{svc.url.removeprefix('http://')}']}}]\n"
        for name, svc in pipeline.services.items()
        if name != "recipient-sim"
    )
    config = folder / "prometheus.yml"
    config.write_text(
        f"global: {{scrape_interval: 5s, evaluation_interval: 5s}}\nrule_files: [alerts.yml]\nscrape_configs:\n{jobs}"
    )
    port = free_ports(1)[0]
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=(folder / "prometheus.log").open("wb"),
    )
    print(f"  prometheus: http://127.0.0.1:{port}/   (alerts: /alerts)", flush=True)
    return process


def _stop(_: int, __: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between sample reports")
    parser.add_argument("--seconds", type=float, default=0, help="stop after this long (0: until Ctrl-C)")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, _stop)

    work = REPO_ROOT / ".run"
    work.mkdir(exist_ok=True)
    started = time.monotonic()
    print("starting Kafka (first run resolves the broker jars from Maven Central)...", flush=True)
    kafka = provide_kafka(work / "kafka")
    print(
        f"Kafka {kafka.version or ''} ({kafka.kind}) at {kafka.bootstrap_servers}, "
        f"ready in {kafka.startup_seconds:.1f}s",
        flush=True,
    )
    database_url = os.environ.get("DATABASE_URL", f"sqlite+aiosqlite:///{work / 'careline.db'}")
    config = PipelineConfig(
        kafka.bootstrap_servers,
        database_url,
        work,
        ack_delay_seconds=2.0,
        environment="local",
        replication_factor=kafka.replication_factor,
    )
    pipeline = Pipeline(config)
    prometheus: subprocess.Popen[bytes] | None = None
    try:
        pipeline.start()
        print(f"all services healthy in {time.monotonic() - started:.1f}s; logs in {work / 'logs'}", flush=True)
        print(f"  intake:    {pipeline.url('intake')}/v1/reports   (POST a Careline report)", flush=True)
        user, password = pipeline.ops_credentials
        print(f"  dashboard: {pipeline.url('ops')}/   (user {user!r}, password {password!r})", flush=True)
        print(f"  database:  {database_url}", flush=True)
        prometheus = start_prometheus(pipeline, work)
        run_reports(pipeline, args.interval, args.seconds)
    except KeyboardInterrupt:
        pass
    finally:
        print("stopping...", flush=True)
        if prometheus is not None:
            prometheus.terminate()
        pipeline.stop()
        kafka.stop()
    return 0


def run_reports(pipeline: Pipeline, interval: float, seconds: float) -> None:
    towns = all_town_names()
    rng = random.Random()
    accepted = refused = 0
    run_id = time.strftime("%H%M%S")
    deadline = time.monotonic() + seconds if seconds else None
    next_print = time.monotonic()
    with httpx.Client(timeout=15) as client:
        for n in itertools.count(1):
            if deadline and time.monotonic() >= deadline:
                break
            town = rng.choice(towns)
            report = sample_report(f"CL-{run_id}-{n:05d}", town, rng=rng)
            response = client.post(f"{pipeline.url('intake')}/v1/reports", json=report)
            accepted += response.status_code == 202
            refused += response.status_code != 202
            if time.monotonic() >= next_print:
                print_progress(client, pipeline, accepted, refused)
                next_print = time.monotonic() + 5
            time.sleep(interval)


def print_progress(client: httpx.Client, pipeline: Pipeline, accepted: int, refused: int) -> None:
    try:
        summary = client.get(f"{pipeline.url('ops')}/api/summary", auth=pipeline.ops_credentials).json()
    except httpx.HTTPError as exc:
        print(f"(dashboard unavailable: {type(exc).__name__})", flush=True)
        return
    parts = []
    for kind in KINDS:
        counts = summary["notifications"].get(kind, {})
        delivered = counts.get("delivered", 0) + counts.get("acknowledged", 0)
        parts.append(f"{kind}: {delivered} delivered/{counts.get('acknowledged', 0)} acked")
    print(
        f"[{time.strftime('%H:%M:%S')}] reports received {accepted} (refused {refused}), "
        f"routed {summary['reports']} | " + " | ".join(parts),
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
