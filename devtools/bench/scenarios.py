"""B0-B6 on one broker and one database, in the order that lets each reuse the last one's data:
B0 raw Kafka; B1 intake alone (its reports stay on the topic); B2 the router alone routes them; B3 the notifiers
alone deliver what B2 routed; then every service: idle CPU, B6 latency floor, B4 the open-loop rate ladder."""

import asyncio
import contextlib
import json
import os
import re
import subprocess
import sys
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import httpx
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.bench.load import LoadResult, post_at_rate
from devtools.bench.measure import (
    GroupLag,
    LagProbe,
    ProcessGroup,
    busiest,
    cpu_delta,
    cpu_snapshot,
    percentiles,
    records_on_all_topics,
    thread_cpu,
)
from devtools.infra.kafka_runtime import KafkaHandle, copy_maven_dependencies, find_java
from devtools.runner.pipeline import Pipeline
from devtools.runner.samples import all_town_names
from shared.settings import REPO_ROOT


@dataclass
class Profile:
    """How long and how hard each step runs: --quick stays under 3 minutes on 2 cores."""

    b0_records: int
    b1_seconds: float
    b1_concurrency: int
    b6_seconds: float
    idle_seconds: float
    ladder: list[float]
    step_seconds: float
    sustain_seconds: float
    drain_seconds: float
    p99_limit_ms: float = 1000.0
    b5_after_ready_seconds: float = 0.0  # B5 keeps its load on this long after the broker is back; 0: no B5
    b5_before_kill_seconds: float = 10.0
    b5_rate: float = 5.0
    # Before anything is measured together: this long at warm_rate through every service, so the broker's JIT has
    # compiled the paths a pipeline uses (B0 warms only the producer's) and every pool and cache is filled. A
    # deployment is measured warm; cold, the JIT compiler threads were half the broker's CPU during B4.
    warm_seconds: float = 15.0
    warm_rate: float = 20.0


QUICK = Profile(200_000, 3, 16, 15, 10, [10, 25, 50, 100], 10, 0, 30)
FULL = Profile(
    1_000_000,
    20,
    32,
    60,
    30,
    [10, 25, 50, 100, 150, 200, 300, 500],
    30,
    300,
    120,
    b5_after_ready_seconds=45,
    warm_seconds=60,
)
SETTLE_SECONDS = 2.0
"""After the services start (their groups join in about a second) and after the warm-up drained: a pause before
anything is measured. Idle is measured after B6, so this pause need not hold the broker's post-load JIT."""
# The issue-11 target B5 checks: broker ready within 15 s of its restart, every group's lag under 2 s within 30 s.
B5_READY_TARGET_SECONDS = 15.0
B5_LAG_TARGET_SECONDS = 2.0
B5_RECOVERY_TARGET_SECONDS = 30.0


def resolve_tools_jars(version: str) -> Path:
    """kafka-tools (ProducerPerformance) is not on the broker's classpath: resolved once into .cache/kafka-tools."""
    vdir = REPO_ROOT / ".cache" / "kafka-tools" / version
    pom = Path(__file__).with_name("pom-tools.xml")
    return copy_maven_dependencies(
        pom, vdir, [f"-Dkafka.version={version}"], lambda d: (d / f"kafka-tools-{version}.jar").is_file(), "kafka-tools"
    )


@dataclass
class Bench:
    pipeline: Pipeline
    engine: AsyncEngine
    bootstrap: str
    kafka_version: str
    receiver: subprocess.Popen[bytes]
    receiver_url: str
    extra_groups: list[ProcessGroup]
    profile: Profile
    kafka: KafkaHandle | None = None  # B5 kills and restarts it (the maven kind only)
    results: dict[str, Any] = field(default_factory=dict)
    worst_by_second: list[dict[str, Any]] = field(default_factory=list)  # of the last drain
    accepted: dict[str, float] = field(default_factory=dict)  # every 202'd report of B6/B4 -> its 202 wall time

    # --- plumbing -----------------------------------------------------------------------------------------
    def groups(self) -> list[ProcessGroup]:
        services = [
            ProcessGroup(name, svc.process.pid)
            for name, svc in self.pipeline.services.items()
            if svc.process is not None and svc.is_running()
        ]
        return [*services, ProcessGroup("bench-receiver", self.receiver.pid), *self.extra_groups]

    async def scalar(self, sql: str, **params: Any) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql), params)).scalar()

    async def control_receiver(self, **settings: Any) -> None:
        async with httpx.AsyncClient() as client:
            (await client.post(f"{self.receiver_url}/control", json=settings)).raise_for_status()

    async def receipts(self) -> list[list[Any]]:
        async with httpx.AsyncClient(timeout=30) as client:
            response = await client.get(f"{self.receiver_url}/receipts")
            return list(response.json()["receipts"])

    # --- B0 ------------------------------------------------------------------------------------------------
    async def b0_raw_kafka(self) -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic("bench.b0", 6, 1)])
        finally:
            await admin.close()
        libs = await asyncio.to_thread(resolve_tools_jars, self.kafka_version)
        command = [
            find_java(), "-Xmx512m", "-cp", f"{libs}/*", "org.apache.kafka.tools.ProducerPerformance",
            "--topic", "bench.b0", "--num-records", str(self.profile.b0_records), "--record-size", "700",
            "--throughput", "-1", "--producer-props", f"bootstrap.servers={self.bootstrap}", "acks=all",
        ]  # fmt: skip
        out = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, check=True)
        last = [line for line in out.stdout.splitlines() if "records sent" in line][-1]
        rate = float(re.search(r"([\d.]+) records/sec", last).group(1))  # type: ignore[union-attr]
        avg = float(re.search(r"([\d.]+) ms avg latency", last).group(1))  # type: ignore[union-attr]
        p99 = re.search(r"([\d.]+) ms 99th", last)
        self.results["B0"] = {"records_per_second": rate, "avg_ms": avg, "p99_ms": float(p99.group(1)) if p99 else None}

    # --- B1 ------------------------------------------------------------------------------------------------
    async def b1_intake_alone(self) -> None:
        """Closed loop at fixed concurrency: how many 202s per second intake gives with nothing else running."""
        await asyncio.to_thread(self.pipeline.start_services, ["intake"])
        url, towns = self.pipeline.url("intake"), all_town_names()
        before = cpu_snapshot(self.groups())
        deadline = time.perf_counter() + self.profile.b1_seconds
        counter = iter(range(10**9))
        answered: list[float] = []

        async def worker(client: aiohttp.ClientSession) -> None:
            from devtools.runner.samples import sample_report

            while time.perf_counter() < deadline:
                i = next(counter)
                body = json.dumps(sample_report(f"B1-{i:07d}", towns[i % len(towns)])).encode()
                started = time.perf_counter()
                headers = {"content-type": "application/json"}
                async with client.post(f"{url}/v1/reports", data=body, headers=headers) as response:
                    await response.read()
                    if response.status == 202:
                        answered.append(time.perf_counter() - started)

        started = time.perf_counter()
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as client:
            await asyncio.gather(*(worker(client) for _ in range(self.profile.b1_concurrency)))
        took = time.perf_counter() - started
        cpu = cpu_delta(before, cpu_snapshot(self.groups()))
        self.results["B1"] = {
            "accepted": len(answered),
            "reports_per_second": len(answered) / took,
            "latency_ms": percentiles(answered),
            "intake_cpu_ms_per_report": 1000 * cpu.get("intake", 0) / max(1, len(answered)),
        }

    # --- B2 ------------------------------------------------------------------------------------------------
    async def b2_router_alone(self) -> None:
        """The router on a topic already holding B1's reports: notifications written and published per second."""
        expected = self.results["B1"]["accepted"]
        await asyncio.to_thread(self.pipeline.start_services, ["router"])
        await self.wait_for(
            lambda: self.scalar("select count(*) from reports where routed_at is not null and report_id like 'B1-%'"),
            expected,
            60 + expected / 20,
        )
        row = await self.row(
            "select count(*), min(first_routed_at), max(routed_at) from reports where report_id like 'B1-%'"
        )
        notifications = await self.scalar("select count(*) from notifications where report_id like 'B1-%'")
        seconds = max(1e-3, (row[2] - row[1]).total_seconds())
        self.results["B2"] = {
            "reports": row[0],
            "notifications": notifications,
            "notifications_per_second": notifications / seconds,
            "reports_per_second": row[0] / seconds,
        }

    # --- B3 ------------------------------------------------------------------------------------------------
    async def b3_notifiers_alone(self) -> None:
        """The notifiers deliver what B2 routed to a receiver that answers after 20 ms."""
        await self.control_receiver(latency_seconds=0.02, acknowledge=False)
        expected = self.results["B2"]["notifications"]
        notifiers = [n for n in self.pipeline.services if n.startswith("notifier")]
        await asyncio.to_thread(self.pipeline.start_services, notifiers)
        await self.wait_for(
            lambda: self.scalar(
                "select count(*) from notifications where report_id like 'B1-%' and delivered_at is not null"
            ),
            expected,
            60 + expected / 10,
        )
        row = await self.row(
            "select count(*), min(delivered_at), max(delivered_at) from notifications "
            "where report_id like 'B1-%' and delivered_at is not null"
        )
        seconds = max(1e-3, (row[2] - row[1]).total_seconds())
        self.results["B3"] = {"deliveries": row[0], "deliveries_per_second": row[0] / seconds,
                              "receiver_latency_ms": 20}  # fmt: skip
        await self.control_receiver(latency_seconds=0.0, acknowledge=True)

    # --- everything running ---------------------------------------------------------------------------------
    async def start_all(self) -> None:
        """Every service (those B1-B3 did not start yet), a pause for start-up work (group joins, first
        refreshes), the warm-up load (its reports join the reconciliation), and a pause for it to settle."""
        await asyncio.to_thread(self.pipeline.start_services, self.pipeline.services)
        await asyncio.sleep(SETTLE_SECONDS)
        if self.profile.warm_seconds:
            load = await post_at_rate(
                self.pipeline.url("intake"), self.profile.warm_rate, self.profile.warm_seconds, all_town_names(), "warm"
            )
            self.accepted.update(load.accepted)
            latencies = await self.drain(load)
            self.results["warm_up"] = {
                "reports_per_second": self.profile.warm_rate,
                "seconds": self.profile.warm_seconds,
                "accepted": len(load.accepted),
                "notifications": len(latencies),
            }
            await asyncio.sleep(SETTLE_SECONDS)

    async def idle(self) -> None:
        broker = next((g for g in self.extra_groups if g.name == "kafka-broker"), None)
        threads_before = thread_cpu(broker.root_pid) if broker else {}
        before = cpu_snapshot(self.groups())
        await asyncio.sleep(self.profile.idle_seconds)
        used = cpu_delta(before, cpu_snapshot(self.groups()))
        threads = busiest(threads_before, thread_cpu(broker.root_pid), self.profile.idle_seconds) if broker else {}
        per_process = {name: 100 * seconds / self.profile.idle_seconds for name, seconds in used.items()}
        pipeline_only = {k: v for k, v in per_process.items() if k != "bench-receiver"}
        self.results["idle"] = {
            "seconds": self.profile.idle_seconds,
            "percent_of_one_core": per_process,
            "total_percent": sum(pipeline_only.values()),
            "broker_busiest_threads_percent": threads,
            "loadavg": [round(x, 2) for x in os.getloadavg()],
        }

    async def b6_latency_floor(self) -> None:
        load = await post_at_rate(self.pipeline.url("intake"), 1.0, self.profile.b6_seconds, all_town_names(), "B6")
        self.accepted.update(load.accepted)
        latencies = await self.drain(load)
        self.results["B6"] = {
            "reports": load.sent,
            "accepted": len(load.accepted),
            "latency_ms": percentiles(latencies),
        }

    async def b4_ladder(self) -> None:
        steps = []
        towns = all_town_names()
        cpu_before = cpu_snapshot(self.groups())
        broker = next((g for g in self.extra_groups if g.name == "kafka-broker"), None)
        threads_before, ladder_t0 = (thread_cpu(broker.root_pid) if broker else {}), time.perf_counter()
        delivered_before = await self.scalar("select count(*) from notifications where delivered_at is not null")
        best: dict[str, Any] | None = None
        rates = list(self.profile.ladder)
        for index, rate in enumerate(rates):
            records_before, t0 = await records_on_all_topics(self.bootstrap), time.perf_counter()
            load = await post_at_rate(
                self.pipeline.url("intake"), rate, self.profile.step_seconds, towns, f"B4-{index}"
            )
            self.accepted.update(load.accepted)
            latencies = await self.drain(load)
            took = time.perf_counter() - t0
            records = await records_on_all_topics(self.bootstrap) - records_before
            step: dict[str, Any] = {
                "offered_reports_per_second": rate,
                "sent": load.sent,
                "statuses": dict(load.statuses),
                "accepted": len(load.accepted),
                "notifications": len(latencies),
                "seconds_until_drained": took,
                "notifications_per_second": len(latencies) / took,
                "produced_records_per_second": records / took,
                "latency_ms": percentiles(latencies),
                "intake_answer_ms": percentiles(load.answer_seconds),
                "worst_by_second": self.worst_by_second,
            }
            steps.append(step)
            print(f"  B4 {rate:>5} reports/s: p99 {step['latency_ms']['p99']} ms, "
                  f"{step['notifications_per_second']:.0f} notifications/s", flush=True)  # fmt: skip
            held = (
                step["latency_ms"]["p99"] is not None
                and step["latency_ms"]["p99"] <= self.profile.p99_limit_ms
                and len(load.accepted) == load.sent
                and took <= self.profile.step_seconds * 1.5
            )
            if not held:
                break
            best = step
        used = cpu_delta(cpu_before, cpu_snapshot(self.groups()))
        delivered = await self.scalar("select count(*) from notifications where delivered_at is not null")
        delivered -= delivered_before
        self.results["B4"] = {
            "steps": steps,
            "max_held_reports_per_second": best["offered_reports_per_second"] if best else 0,
            "max_held_notifications_per_second": best["notifications_per_second"] if best else 0,
            # The pipeline's highest append rate on any step (held or not) against raw Kafka on the same broker.
            "b0_ratio_percent": 100
            * max(s["produced_records_per_second"] for s in steps)
            / self.results["B0"]["records_per_second"]
            if "B0" in self.results
            else None,
            "cpu_ms_per_notification": {name: 1000 * s / max(1, delivered) for name, s in used.items()},
            "cpu_ms_per_notification_total": 1000
            * sum(s for n, s in used.items() if n != "bench-receiver")
            / max(1, delivered),
            # Where the broker's share goes under load (request handlers, network threads, JIT, GC).
            "broker_busiest_threads_percent": busiest(
                threads_before, thread_cpu(broker.root_pid), time.perf_counter() - ladder_t0
            )
            if broker
            else {},
        }
        if best and self.profile.sustain_seconds:
            await self.b4_sustain(best["offered_reports_per_second"], towns)

    async def b4_sustain(self, rate: float, towns: list[str]) -> None:
        load = await post_at_rate(self.pipeline.url("intake"), rate, self.profile.sustain_seconds, towns, "B4-sustain")
        self.accepted.update(load.accepted)
        latencies = await self.drain(load)
        self.results["B4"]["sustained"] = {
            "reports_per_second": rate,
            "seconds": self.profile.sustain_seconds,
            "accepted": len(load.accepted),
            "notifications": len(latencies),
            "latency_ms": percentiles(latencies),
        }

    # --- B5 -------------------------------------------------------------------------------------------------
    async def b5_broker_sigkill(self) -> None:
        """Under a steady modest load: SIGKILL the broker, restart it, and time (a) restart -> ready and
        (b) ready -> every pipeline group's lag under 2 s (and staying there); the load's reports join the
        reconciliation, and B5 reconciles its own too."""
        if self.kafka is None or self.kafka.kind != "maven" or self.kafka.nodes:
            self.results["B5"] = {"skipped": "needs the single local maven broker"}
            return
        profile, probe = self.profile, LagProbe(self.bootstrap)
        try:
            settled = await self._lag_settles(probe, 60)
            towns, rate = all_town_names(), profile.b5_rate
            # the load runs through the kill, the restart and the whole observation window
            seconds = profile.b5_before_kill_seconds + B5_READY_TARGET_SECONDS + profile.b5_after_ready_seconds
            load_task = asyncio.create_task(post_at_rate(self.pipeline.url("intake"), rate, seconds, towns, "B5"))
            await asyncio.sleep(profile.b5_before_kill_seconds)
            killed_at = time.time()
            await asyncio.to_thread(self.kafka.kill)
            restart_at = time.monotonic()
            await asyncio.to_thread(self.kafka.restart)
            ready_seconds = time.monotonic() - restart_at
            ready_at = time.time()
            self._track_new_broker_pid()
            samples = await self._watch_lag(probe, profile.b5_after_ready_seconds, ready_at)
            load = await load_task
        finally:
            await probe.close()
        self.accepted.update(load.accepted)
        latencies = await self.drain(load)
        after_ready = sorted(at for at in load.accepted.values() if at >= ready_at)
        self.results["B5"] = {
            "load_reports_per_second": rate,
            "baseline_lag_seconds_before_kill": settled,
            "restart_to_ready_seconds": ready_seconds,
            "killed_to_ready_seconds": ready_at - killed_at,
            **self._recovery(samples),
            "first_202_after_ready_seconds": after_ready[0] - ready_at if after_ready else None,
            "sent": load.sent,
            "statuses": dict(load.statuses),
            "accepted": len(load.accepted),
            "latency_ms": percentiles(latencies),
            "lag_samples": samples,
            **await self._reconcile_ids(list(load.accepted)),
        }
        b5 = self.results["B5"]
        b5["target_met"] = ready_seconds <= B5_READY_TARGET_SECONDS and b5["lag_target_met"]
        print(f"  B5 ready in {ready_seconds:.1f} s, lag under 2 s {b5['lag_under_2s_after_ready_seconds']} s "
              f"after it, lost {b5['lost']}, duplicate rows {b5['duplicate_rows']}", flush=True)  # fmt: skip

    def _track_new_broker_pid(self) -> None:
        """The restarted JVM has a new pid: later CPU and RSS readings follow it."""
        assert self.kafka is not None and self.kafka._broker is not None and self.kafka._broker.proc is not None
        pid = self.kafka._broker.proc.pid
        self.extra_groups[:] = [ProcessGroup(g.name, pid) if g.name == "kafka-broker" else g for g in self.extra_groups]

    async def _lag_settles(self, probe: LagProbe, within: float) -> float | None:
        """Wait (up to `within` s) until the pipeline is caught up before the kill; the worst lag seen last."""
        deadline, worst = time.monotonic() + within, None
        while time.monotonic() < deadline:
            with contextlib.suppress(Exception):
                worst = _worst(await probe.read())
                if worst < B5_LAG_TARGET_SECONDS:
                    return round(worst, 2)
            await asyncio.sleep(1)
        return _seconds(worst) if worst is not None else None

    async def _watch_lag(self, probe: LagProbe, seconds: float, ready_at: float) -> list[dict[str, Any]]:
        """One reading a second from the broker's ready moment on: worst group lag (s), records behind, and the
        groups over 2 s; a reading the broker did not answer is kept as an error."""
        samples: list[dict[str, Any]] = []
        while time.time() - ready_at < seconds:
            at = time.time()
            try:
                lags = await asyncio.wait_for(probe.read(), 10)
            except Exception as exc:
                samples.append({"t": round(at - ready_at, 1), "error": type(exc).__name__})
            else:
                late = sorted(g.group for g in lags.values() if not g.retry_tier and g.seconds >= B5_LAG_TARGET_SECONDS)
                samples.append({
                    "t": round(at - ready_at, 1),
                    "worst_seconds": _seconds(_worst(lags)),
                    "records_behind": sum(g.records for g in lags.values() if not g.retry_tier),
                    "retry_tier_records_behind": sum(g.records for g in lags.values() if g.retry_tier),
                    "groups_over_2s": late,
                })  # fmt: skip
            await asyncio.sleep(max(0.0, 1.0 - (time.time() - at)))
        return samples

    @staticmethod
    def _recovery(samples: list[dict[str, Any]]) -> dict[str, Any]:
        """When the lag went under 2 s for good (the reading after the last one over it, or unreadable), and the
        worst lag seen; None when it never came back within the window."""
        bad = [s["t"] for s in samples if "error" in s or _over(s["worst_seconds"])]
        good_after = [s["t"] for s in samples if "error" not in s and (not bad or s["t"] > bad[-1])]
        recovered = (good_after[0] if bad else 0.0) if good_after else None
        ages = [s["worst_seconds"] for s in samples if "error" not in s]
        worst = max((a for a in ages if a is not None), default=None)
        return {
            "lag_under_2s_after_ready_seconds": recovered,
            "worst_lag_seconds_after_ready": worst,
            "unanswered_lag_readings": sum(1 for s in samples if "error" in s),
            "readings_with_an_unreadable_record": ages.count(None),
            "lag_target_met": recovered is not None and recovered <= B5_RECOVERY_TARGET_SECONDS,
        }

    # --- draining and reconciling --------------------------------------------------------------------------
    async def drain(self, load: LoadResult) -> list[float]:
        """Wait until every notification of these reports reached the receiver; latencies from its clock."""
        ids = list(load.accepted)
        deadline = time.monotonic() + self.profile.drain_seconds
        expected = 0
        first: dict[str, float] = {}
        while True:
            expected = (
                await self.scalar("select count(*) from notifications where report_id = any(:ids)", ids=ids)
                if ids
                else 0
            )
            first = {}
            worst: dict[int, tuple[float, str]] = {}  # second of the step -> slowest notification accepted in it
            start = min(load.accepted.values(), default=0.0)
            for nid, _wid, report_id, agency, at in await self.receipts():
                if report_id in load.accepted and nid not in first:
                    first[nid] = at - load.accepted[report_id]
                    second = int(load.accepted[report_id] - start)
                    if first[nid] > worst.get(second, (-1.0, ""))[0]:
                        worst[second] = (first[nid], agency)
            # Where in the step the slow ones were: a stall shows as a run of slow seconds, overload as a ramp.
            self.worst_by_second = [
                {"second": sec, "ms": round(1000 * lat, 1), "agency": agency}
                for sec, (lat, agency) in sorted(worst.items())
            ]
            routed = (
                await self.scalar(
                    "select count(*) from reports where routed_at is not null and report_id = any(:ids)", ids=ids
                )
                if ids
                else 0
            )
            if (routed == len(ids) and len(first) >= expected) or time.monotonic() > deadline:
                return list(first.values())
            await asyncio.sleep(0.5)

    async def reconcile(self) -> None:
        """Every 202'd report of B6/B4/B5: routed, each notification delivered once (rows) and acknowledged."""
        ids, within = list(self.accepted), self.profile.drain_seconds * 2
        self.results["reconciliation"] = await self._reconcile_ids(ids, within, every_attempt=True)

    async def _reconcile_ids(
        self, ids: list[str], within: float = 0.0, *, every_attempt: bool = False
    ) -> dict[str, Any]:
        """These reports: routed, each notification received once (rows, receipts) and acknowledged, after
        waiting up to `within` s for the stragglers. `every_attempt`: a notification delivered twice counts
        whatever report it belongs to (B1-B3's included)."""
        deadline = time.monotonic() + within
        while True:
            open_ = await self.scalar(
                "select count(*) from notifications where report_id = any(:ids) and acknowledged_at is null", ids=ids
            )
            unrouted = len(ids) - await self.scalar(
                "select count(*) from reports where routed_at is not null and report_id = any(:ids)", ids=ids
            )
            if (open_ == 0 and unrouted == 0) or time.monotonic() > deadline:
                break
            await asyncio.sleep(1)
        notifications = await self.scalar("select count(*) from notifications where report_id = any(:ids)", ids=ids)
        wanted = set(ids)
        mine = [r for r in await self.receipts() if r[2] in wanted]
        per_notification: dict[str, set[str]] = defaultdict(set)
        counts: dict[str, int] = defaultdict(int)
        for nid, wid, *_ in mine:
            per_notification[nid].add(wid)
            counts[nid] += 1
        duplicate_rows = await self.scalar(
            "select count(*) from (select report_id, recipient_kind, agency_id from notifications "
            "where report_id = any(:ids) group by 1, 2, 3 having count(*) > 1) d",
            ids=ids,
        ) + await self.scalar(
            "select count(*) from (select a.notification_id from delivery_attempts a "
            "join notifications n on n.notification_id = a.notification_id "
            "where a.outcome = 'delivered' and (:every or n.report_id = any(:ids)) group by 1 having count(*) > 1) d",
            ids=ids,
            every=every_attempt,
        )
        recon = {
            "reports_accepted": len(ids),
            "reports_not_routed": unrouted,
            "notifications": notifications,
            "notifications_not_received": notifications - len(per_notification),
            "notifications_not_acknowledged": open_,
            "duplicate_rows": duplicate_rows,
            "duplicate_receipts": sum(c - 1 for c in counts.values()),
            "duplicates_with_another_webhook_id": sum(1 for w in per_notification.values() if len(w) > 1),
        }
        recon["lost"] = recon["reports_not_routed"] + recon["notifications_not_received"]
        return recon

    async def rss(self) -> None:
        self.results["rss_mib"] = {g.name: round(g.rss(), 1) for g in self.groups()}

    async def row(self, sql: str) -> Any:
        async with self.engine.connect() as conn:
            return (await conn.execute(text(sql))).one()

    async def wait_for(self, probe: Any, expected: int, within: float) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if await probe() >= expected:
                return
            await asyncio.sleep(0.25)
        print(f"  (gave up waiting after {within:.0f} s)", file=sys.stderr)


def _worst(lags: dict[str, GroupLag]) -> float:
    """The oldest unconsumed record's age over every group that is not a retry tier."""
    return max((g.seconds for g in lags.values() if not g.retry_tier), default=0.0)


def _seconds(age: float) -> float | None:
    """An age for the JSON: None where a record behind could not be read (no finite age to write)."""
    return None if age == float("inf") else round(age, 2)


def _over(age: float | None) -> bool:
    return age is None or age >= B5_LAG_TARGET_SECONDS


def start_receiver(port: int, acks_url: str, log_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    """The receiver in its own process, with the pipeline's environment (it derives the same agency secrets)."""
    env = {**os.environ, **env, "BENCH_RECEIVER_PORT": str(port), "BENCH_RECEIVER_ACKS_URL": acks_url}
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "bench-receiver.log").open("ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "devtools.bench.receiver"], env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError("the benchmark receiver did not start")
