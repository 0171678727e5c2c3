"""`python -m devtools.bench.broker_idle`: the broker alone, idle, and what its threads spend CPU on.

Starts a fresh local broker (the same runtime the tests, the local run and the bench use), creates the pipeline's
topics (as many partitions as a real run), waits for start-up work to settle, then samples every JVM thread's
CPU from /proc for a while and prints the total as % of one core and the busiest threads by name (the JVM names
its native threads: `kafka-scheduler`, `G1 Conc#0`, `C2 CompilerThre`, `quorum-controll`, ...)."""

import argparse
import asyncio
import json
import os
import tempfile
import time
from pathlib import Path

from devtools.bench.measure import busiest, thread_cpu
from devtools.infra import kafka_runtime
from devtools.infra.kafka_runtime import provide_kafka
from shared.topics import ensure_topics

_TICKS = os.sysconf("SC_CLK_TCK")


def process_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(f) for f in fields[11:13]) / _TICKS


def sample(pid: int, seconds: float) -> dict[str, object]:
    threads_before, total_before, t0 = thread_cpu(pid), process_cpu(pid), time.monotonic()
    time.sleep(seconds)
    threads_after, total_after, took = thread_cpu(pid), process_cpu(pid), time.monotonic() - t0
    return {
        "seconds": round(took, 1),
        "percent_of_one_core": round(100 * (total_after - total_before) / took, 2),
        "threads": len(list(Path(f"/proc/{pid}/task").iterdir())),
        "busiest_threads_percent": busiest(threads_before, threads_after, took, 15),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to sample")
    parser.add_argument("--settle", type=float, default=20.0, help="wait after start and topic creation")
    parser.add_argument("--windows", type=int, default=1, help="consecutive sampling windows")
    parser.add_argument("--no-topics", action="store_true", help="a bare broker, without the pipeline's topics")
    parser.add_argument("--prop", action="append", default=[], help="an extra server property k=v (to compare)")
    parser.add_argument("--jvm", action="append", default=[], help="an extra JVM flag (to compare)")
    parser.add_argument("--restart", action="store_true", help="then SIGKILL, restart, time until ready")
    args = parser.parse_args(argv)
    # Later keys and flags win in server.properties and on the java command line: variants compare back to back.
    kafka_runtime.SERVER_PROPERTIES += "".join(f"{p}\n" for p in args.prop)
    kafka_runtime.JVM_FLAGS = [*kafka_runtime.JVM_FLAGS, *args.jvm]
    work = Path(tempfile.mkdtemp(prefix="careline-broker-idle-"))
    kafka = provide_kafka(work / "kafka")
    try:
        if kafka.kind != "maven":
            raise SystemExit(f"needs the local maven broker to read its process, not {kafka.kind}")
        pid = int((work / "kafka" / "kafka.pid").read_text())
        if not args.no_topics:
            asyncio.run(ensure_topics(kafka.bootstrap_servers, kafka.replication_factor))
        time.sleep(args.settle)
        result: dict[str, object] = {"startup_seconds": round(kafka.startup_seconds, 1), "props": args.prop,
                                     "jvm": args.jvm}  # fmt: skip
        result["windows"] = [sample(pid, args.seconds) for _ in range(args.windows)]
        if args.restart:
            kafka.kill()
            t0 = time.monotonic()
            kafka.restart()
            result["restart_to_ready_seconds"] = round(time.monotonic() - t0, 1)
        print(json.dumps(result, indent=2))
    finally:
        kafka.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
