"""`scripts/dev bench [--quick] [--label NAME]`: run B0-B6 on fresh local Kafka and PostgreSQL (the full profile
adds B5, broker SIGKILL recovery), print the table, write test-output/bench/<label>-<time>.json. Exits 1 only if
a notification was lost or a row duplicated (B5's reports included)."""

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

from devtools.bench.measure import ProcessGroup
from devtools.bench.report import render
from devtools.bench.scenarios import FULL, QUICK, Bench, Profile, resolve_tools_jars, start_receiver
from devtools.infra.kafka_runtime import DEFAULT_VERSION, provide_kafka
from devtools.infra.ports import free_port
from devtools.infra.postgres_runtime import provide_postgres
from devtools.runner.pipeline import Pipeline, PipelineConfig
from shared.settings import REPO_ROOT
from shared.store.engine import make_engine


async def _git_head() -> str:
    process = await asyncio.create_subprocess_exec("git", "rev-parse", "--short", "HEAD", stdout=subprocess.PIPE)
    out, _ = await process.communicate()
    return out.decode().strip()


def _pid_file(path: Path) -> int:
    return int(path.read_text().split()[0])


ALL_STEPS = ["B0", "B1", "B2", "B3", "B6", "idle", "B4", "B5"]
_NEEDS = {"B2": "B1", "B3": "B2"}  # each reads what the one before left on the topics


def chosen_steps(only: str | None, profile: Profile) -> list[str]:
    """The steps to run: all (B5 only where the profile gives it time) or the --only list; every service starts
    before the first step that needs them all, and reconciliation and RSS always close the run."""
    if only:
        picked = [s.strip() for s in only.split(",")]
    else:
        picked = [s for s in ALL_STEPS if s != "B5" or profile.b5_after_ready_seconds]
    unknown = [s for s in picked if s not in ALL_STEPS]
    if unknown:
        raise SystemExit(f"unknown step(s) {unknown}; steps are {ALL_STEPS}")
    missing = [f"{s} needs {_NEEDS[s]}" for s in picked if s in _NEEDS and _NEEDS[s] not in picked]
    if missing:
        raise SystemExit("; ".join(missing))
    alone, together = ["B0", "B1", "B2", "B3"], ["B6", "idle", "B4", "B5"]
    return [s for s in alone if s in picked] + ["start"] + [s for s in together if s in picked] + ["reconcile", "rss"]


async def run(args: argparse.Namespace, work: Path) -> dict[str, object]:
    profile = QUICK if args.quick else FULL
    if args.quick and args.b5:
        profile = replace(profile, b5_after_ready_seconds=FULL.b5_after_ready_seconds)
    chosen = chosen_steps(args.only, profile)
    if "B5" in chosen and not profile.b5_after_ready_seconds:  # --only B5 with --quick
        profile = replace(profile, b5_after_ready_seconds=FULL.b5_after_ready_seconds)
    started = time.perf_counter()
    kafka = provide_kafka(work / "kafka")
    postgres = provide_postgres(work / "postgres")
    receiver_port = free_port()
    config = PipelineConfig(
        bootstrap_servers=kafka.bootstrap_servers,
        database_url=postgres.url,
        work_dir=work,
        environment="test",
        replication_factor=kafka.replication_factor,
        recipient_url=f"http://127.0.0.1:{receiver_port}",
        # The load generator is one client; intake's per-client limit (20/s, burst 100) would make B1 and the
        # ladder measure the limiter instead of the pipeline. Its 429 path is proven in tests/security.
        extra_env={"INTAKE_RATE_PER_SECOND": "100000", "INTAKE_RATE_BURST": "100000"},
    )
    pipeline = Pipeline(config)
    await asyncio.to_thread(pipeline.prepare)
    extra = []
    if kafka.kind == "maven":
        extra.append(ProcessGroup("kafka-broker", _pid_file(work / "kafka" / "kafka.pid")))
    if postgres.kind == "local" and postgres._base is not None:
        extra.append(ProcessGroup("postgresql", _pid_file(postgres._base / "data" / "postmaster.pid")))
    receiver = start_receiver(
        receiver_port,
        f"{pipeline.url('acks')}/v1/acks",
        work / "logs",
        {"ENVIRONMENT": config.environment, "RECIPIENT_BASE_URL": config.recipient_url or ""},
    )
    engine = make_engine(postgres.url)
    bench = Bench(pipeline, engine, kafka.bootstrap_servers, kafka.version or "", receiver,
                  f"http://127.0.0.1:{receiver_port}", extra, profile, kafka)  # fmt: skip
    try:
        steps = {
            "B0": ("B0 raw Kafka", bench.b0_raw_kafka),
            "B1": ("B1 intake alone", bench.b1_intake_alone),
            "B2": ("B2 router alone", bench.b2_router_alone),
            "B3": ("B3 notifiers alone", bench.b3_notifiers_alone),
            "start": ("every service, then the warm-up load", bench.start_all),
            # Idle after B6's trickle, not straight after the warm-up: the broker's JIT compiles what the warm-up
            # made hot for several seconds, and that transient is not what an idle pipeline costs.
            "B6": ("B6 latency floor", bench.b6_latency_floor),
            "idle": ("idle", bench.idle),
            "B4": ("B4 rate ladder", bench.b4_ladder),
            "B5": ("B5 broker SIGKILL recovery", bench.b5_broker_sigkill),
            "reconcile": ("reconciliation", bench.reconcile),
            "rss": ("rss", bench.rss),
        }
        for key, (name, step) in steps.items():
            if key not in chosen:
                continue
            t0 = time.perf_counter()
            print(f"== {name}", flush=True)
            await step()
            print(f"   ({time.perf_counter() - t0:.0f} s)", flush=True)
    finally:
        await engine.dispose()
        await asyncio.to_thread(pipeline.stop)
        receiver.terminate()
        receiver.wait(10)
        kafka.stop()
        postgres.stop()
    results = bench.results
    results["meta"] = {
        "label": args.label,
        "mode": "quick" if args.quick else "full",
        "steps": chosen,
        "git": await _git_head(),
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "seconds": round(time.perf_counter() - started, 1),
        "cores": os.cpu_count(),
        "kafka": f"{kafka.version} ({kafka.kind})",
    }
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="the short profile (under 3 minutes), as CI runs it")
    parser.add_argument("--label", default="bench", help="names the JSON file (e.g. before, after)")
    parser.add_argument("--compare", type=Path, help="a previous JSON to print side by side")
    parser.add_argument("--only", help=f"a comma-separated subset of {','.join(ALL_STEPS)} (e.g. B5)")
    parser.add_argument("--b5", action="store_true", help="add B5 (broker SIGKILL recovery) to --quick")
    parser.add_argument("--resolve-only", action="store_true", help="fetch the kafka-tools jars (B0) and exit")
    args = parser.parse_args(argv)
    if args.resolve_only:
        print(resolve_tools_jars(DEFAULT_VERSION))
        return 0
    work = Path(tempfile.mkdtemp(prefix="careline-bench-"))
    try:
        results = asyncio.run(run(args, work))
    finally:
        if not os.environ.get("KEEP_BENCH_WORK_DIR"):
            shutil.rmtree(work, ignore_errors=True)
    out_dir = Path(os.environ.get("TEST_OUTPUT_DIR", REPO_ROOT / "test-output")) / "bench"
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"{args.label}-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    previous = json.loads(args.compare.read_text()) if args.compare else None
    print(render(results, previous))
    print(f"written to {path}")
    recon = results["reconciliation"]
    assert isinstance(recon, dict)
    if recon["lost"] or recon["duplicate_rows"]:
        print(f"FAILED: lost {recon['lost']}, duplicate rows {recon['duplicate_rows']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
