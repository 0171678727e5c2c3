"""The local Kafka broker and PostgreSQL really run, and keep their data and ports across crash restarts.

Fault tests elsewhere rely on kill()/restart()/start() behaving like a real crash, so this checks them here.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import NoReturn

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devtools.infra.kafka_runtime import provide_kafka
from devtools.infra.ports import MissingPrerequisite
from devtools.infra.postgres_runtime import provide_postgres

pytestmark = pytest.mark.integration

TOPIC = "infra-runtime-smoke"


def _missing(reason: str) -> NoReturn:
    """A missing prerequisite is a failure in CI (the image must provide it) and a skip on a laptop."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"prerequisite missing in CI: {reason}")
    pytest.skip(reason)


async def test_kafka_record_survives_sigkill_restart(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KAFKA_BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.setenv("KAFKA_PROVIDER", "maven")
    try:
        handle = await asyncio.to_thread(provide_kafka, tmp_path / "kafka")
    except MissingPrerequisite as exc:
        _missing(str(exc))
    print(f"\nKafka {handle.version} ({handle.kind}) started in {handle.startup_seconds:.1f}s")
    try:
        assert handle.kind == "maven"
        assert handle.is_running
        bootstrap = handle.bootstrap_servers

        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(TOPIC, num_partitions=1, replication_factor=1)])
        finally:
            await admin.close()

        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True, acks="all")
        await producer.start()
        try:
            sent = await producer.send_and_wait(TOPIC, b"survives-sigkill", key=b"k1")
        finally:
            await producer.stop()

        await asyncio.to_thread(handle.kill)
        assert not handle.is_running
        t0 = time.monotonic()
        await asyncio.to_thread(handle.restart)
        print(f"Kafka restart after SIGKILL ready in {time.monotonic() - t0:.1f}s")
        assert handle.is_running
        assert handle.bootstrap_servers == bootstrap

        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            tp = TopicPartition(TOPIC, 0)
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            record = await asyncio.wait_for(consumer.getone(), timeout=60)
        finally:
            await consumer.stop()
        assert (record.key, record.value, record.offset) == (b"k1", b"survives-sigkill", sent.offset)
    finally:
        await asyncio.to_thread(handle.stop)
    assert not handle.is_running


async def test_postgres_data_survives_immediate_stop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    t0 = time.monotonic()
    try:
        handle = await asyncio.to_thread(provide_postgres, tmp_path / "pg")
    except MissingPrerequisite as exc:
        _missing(str(exc))
    print(f"\nPostgreSQL ({handle.kind}) at {handle.url} started in {time.monotonic() - t0:.1f}s")
    try:
        assert handle.kind == "local"
        main_db = await asyncpg.connect(handle.url.replace("postgresql+asyncpg://", "postgresql://", 1))
        await main_db.close()

        url = handle.create_database("infra_runtime_test")  # sync API, also usable inside a running loop
        assert url.endswith("/infra_runtime_test")
        dsn = url.replace("postgresql+asyncpg://", "postgresql://", 1)
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("CREATE TABLE kept (v text)")
            await conn.execute("INSERT INTO kept VALUES ('committed before the crash')")
        finally:
            await conn.close()

        await asyncio.to_thread(handle.kill)
        assert not handle.is_running
        with pytest.raises(OSError):
            await asyncpg.connect(dsn, timeout=5)

        await asyncio.to_thread(handle.start)
        assert handle.is_running
        conn = await asyncpg.connect(dsn)
        try:
            assert await conn.fetchval("SELECT v FROM kept") == "committed before the crash"
        finally:
            await conn.close()
    finally:
        await asyncio.to_thread(handle.stop)
    assert not handle.is_running
