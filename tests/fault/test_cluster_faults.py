"""A three-broker KRaft cluster (replication factor 3, min.insync.replicas 2, unclean leader election off) under
steady load with the acknowledging recipient simulator: the leader SIGKILLed five times (Kafka's ReplicationTest
hard_bounce), a rolling clean restart of all three brokers, and two brokers down at once (intake answers 503,
never 202, until min.insync.replicas can be met again, then resumes by itself).

Oracle for each: every report answered 202 is delivered to and acknowledged by every recipient the policy names
(0 lost), one notification row and at most one acknowledgement row per notification, one recorded delivery per
notification, and a recipient that got a notification twice got it with the same webhook-id.

The cluster, database and pipeline are this module's own (started once, ~1 min on two cores).
"""

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from sqlalchemy.ext.asyncio import AsyncEngine

from devtools.infra.kafka_runtime import KafkaHandle, provide_kafka_cluster
from devtools.infra.ports import MissingPrerequisite
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.pipeline import Pipeline, PipelineConfig
from devtools.runner.samples import sample_report
from shared.events import RecipientKind
from shared.store.engine import make_engine
from shared.topics import REPORTS, notification_topic
from tests.conftest import unavailable
from tests.fault.conftest import DEFAULT_OPTIONS
from tests.fault.harness import Figures, ReportStream, drain
from tests.helpers import delivery_summary, eventually

pytestmark = pytest.mark.fault

NOTIFICATIONS = notification_topic(RecipientKind.HART)  # every report notifies the HART Lead
WATCHED = (REPORTS, NOTIFICATIONS)


@pytest.fixture(scope="module")
def cluster(work_dir: Path) -> Iterator[KafkaHandle]:
    try:
        handle = provide_kafka_cluster(work_dir / "kafka-cluster", 3)
    except MissingPrerequisite as exc:
        unavailable(f"no Kafka cluster: {exc}")
    print(f"\nKafka {handle.version} cluster of 3 ready in {handle.startup_seconds:.1f}s: {handle.bootstrap_servers}")
    yield handle
    # Its data is thrown away: SIGKILL. A clean stop, node after node, leaves the last ones waiting for a controller
    # quorum that is gone, 30 s each, before they are killed anyway.
    handle.kill()


@pytest.fixture(scope="module")
def cluster_pipeline(cluster: KafkaHandle, postgres: PostgresHandle, work_dir: Path) -> Iterator[Pipeline]:
    url = postgres.create_database("fault_cluster")
    config = PipelineConfig(
        cluster.bootstrap_servers,
        url,
        work_dir / "pipeline-cluster",
        replication_factor=cluster.replication_factor,
        **DEFAULT_OPTIONS,
    )
    running = Pipeline(config)
    running.start(timeout=180)
    yield running
    running.stop()


@pytest.fixture(scope="module")
async def cluster_db(cluster_pipeline: Pipeline) -> AsyncIterator[AsyncEngine]:
    engine = make_engine(cluster_pipeline.config.database_url, pre_ping=True)
    yield engine
    await engine.dispose()


async def _describe(cluster: KafkaHandle, topics: tuple[str, ...]) -> list[dict[str, Any]]:
    live = ",".join(cluster.node_address(n) for n in cluster.nodes if cluster.node_running(n))
    admin = AIOKafkaAdminClient(bootstrap_servers=live, request_timeout_ms=10000)
    await admin.start()
    try:
        described = await admin.describe_topics(list(topics))
    finally:
        await admin.close()
    return [p for t in described for p in t["partitions"]]


async def leader_of(cluster: KafkaHandle, topic: str) -> int:
    """The broker leading most of the topic's partitions, from the admin API's metadata."""
    leaders = Counter(int(p["leader"]) for p in await _describe(cluster, (topic,)) if int(p["leader"]) >= 0)
    return leaders.most_common(1)[0][0]


async def fully_replicated(cluster: KafkaHandle) -> bool:
    """Every partition of the watched topics has all three replicas in sync (the bounce is over)."""
    try:
        partitions = await _describe(cluster, WATCHED)
    except Exception:
        return False
    return bool(partitions) and all(len(p["isr"]) == 3 for p in partitions)


async def settle(cluster: KafkaHandle) -> None:
    assert await eventually(lambda: fully_replicated(cluster), timeout=90, interval=1), "ISR did not recover"


async def judge(name: str, stream: ReportStream, db: AsyncEngine, pipeline: Pipeline) -> Figures:
    """Drain, then the oracle: nothing accepted lost or unacknowledged, no duplicate row or delivery."""
    result = await drain(db, pipeline.url("recipient-sim"), stream, timeout=240)
    expected = result.expected_deliveries

    async def all_acknowledged() -> bool:
        return (await delivery_summary(db, stream.report_ids))["acknowledged"] == expected

    await eventually(all_acknowledged, timeout=180, interval=2)
    summary = await delivery_summary(db, stream.report_ids)
    print(
        f"\n[{name}] sent={stream.sent} 202={result.accepted_202} refused={stream.refused} expected={expected} "
        f"delivered={result.deliveries} acknowledged={summary['acknowledged']} ack_rows={summary['ack_rows']} "
        f"duplicates={result.duplicates_received} mismatched_webhook_ids={result.mismatched_webhook_ids} "
        f"extra_delivered_attempts={result.extra_delivered_attempts} dead_letters={result.dead_letters} "
        f"lost={result.lost}"
    )
    assert result.accepted_202 >= 20
    assert result.lost == 0 and result.dead_letters == 0, result.line(name)
    assert summary["notifications"] == expected  # one row per notification, none missing, none twice
    assert summary["acknowledged"] == expected  # every accepted report acknowledged by every recipient
    assert summary["ack_rows"] == expected  # one acknowledgement row each
    assert result.extra_delivered_attempts == 0
    assert result.mismatched_webhook_ids == 0  # a duplicate delivery always carried the same webhook-id
    return result


async def test_leader_sigkill_five_times_under_load_loses_nothing(
    cluster: KafkaHandle, cluster_pipeline: Pipeline, cluster_db: AsyncEngine
) -> None:
    await settle(cluster)
    stream = ReportStream(cluster_pipeline.url("intake"), rate_per_second=2)
    stream.start()
    try:
        for bounce in range(5):
            topic = REPORTS if bounce % 2 == 0 else NOTIFICATIONS
            await asyncio.sleep(2)
            leader = await leader_of(cluster, topic)
            cluster.kill_node(leader)
            await asyncio.sleep(2)
            await asyncio.to_thread(cluster.start_node, leader)
            await settle(cluster)
            print(f"\nhard bounce {bounce + 1}: SIGKILL of broker {leader}, leader of {topic}; back in sync")
        await asyncio.sleep(2)
    finally:
        await stream.stop()
    await judge("cluster leader SIGKILL x5", stream, cluster_db, cluster_pipeline)


async def test_rolling_clean_restart_of_all_three_brokers_loses_nothing(
    cluster: KafkaHandle, cluster_pipeline: Pipeline, cluster_db: AsyncEngine
) -> None:
    await settle(cluster)
    stream = ReportStream(cluster_pipeline.url("intake"), rate_per_second=2)
    stream.start()
    try:
        for node in sorted(cluster.nodes):
            await asyncio.sleep(2)
            await asyncio.to_thread(cluster.terminate_node, node)
            await asyncio.to_thread(cluster.start_node, node)
            await settle(cluster)
            print(f"\nrolling restart: broker {node} stopped cleanly, restarted, back in sync")
        await asyncio.sleep(2)
    finally:
        await stream.stop()
    await judge("cluster rolling clean restart", stream, cluster_db, cluster_pipeline)


async def test_two_brokers_down_intake_answers_503_never_202_and_resumes_by_itself(
    cluster: KafkaHandle, cluster_pipeline: Pipeline, cluster_db: AsyncEngine
) -> None:
    await settle(cluster)
    intake = cluster_pipeline.url("intake")
    tag = uuid.uuid4().hex[:6].upper()
    stream = ReportStream(intake, rate_per_second=2)
    stream.start()
    try:
        await asyncio.sleep(5)
        down = sorted(cluster.nodes)[:2]
        for node in down:
            cluster.kill_node(node)
        accepted_at_kill = len(stream.accepted)
        await asyncio.sleep(1)
        async with httpx.AsyncClient(timeout=60) as client:
            probes = [sample_report(f"CL-2D-{tag}-{i}", "Norwich") for i in range(4)]
            statuses = await asyncio.gather(*(client.post(f"{intake}/v1/reports", json=r) for r in probes))
            codes = [s.status_code for s in statuses]
            print(f"\nwith brokers {down} down (min.insync.replicas=2 unmet): intake answered {codes}")
            assert codes == [503] * len(probes)
            # The stream posts one report at a time: at most the one in flight at the kill may still get its 202.
            accepted_while_down = len(stream.accepted) - accepted_at_kill
            for node in down:
                await asyncio.to_thread(cluster.start_node, node)
            back = sample_report(f"CL-2D-{tag}-back", "Norwich")

            async def accepted_again() -> bool:
                return (await client.post(f"{intake}/v1/reports", json=back)).status_code == 202

            assert await eventually(accepted_again, timeout=120, interval=1), "intake did not resume by itself"
        await settle(cluster)
        await asyncio.sleep(5)
    finally:
        await stream.stop()
    print(f"stream reports answered 202 while two brokers were down: {accepted_while_down}; refused: {stream.refused}")
    assert accepted_while_down <= 1
    stream.accepted.append(back)  # the first 202 after recovery is held to the same oracle
    await judge("cluster two brokers down", stream, cluster_db, cluster_pipeline)
