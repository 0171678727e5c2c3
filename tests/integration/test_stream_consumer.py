"""The consumption engine (shared/stream) on a real broker: a slow key holds up no other key, the committed
offset never passes a record whose work is unfinished, a record that is not due yet waits without being handled,
and a restarted consumer resumes exactly after the finished work."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from devtools.infra.kafka_runtime import KafkaHandle
from shared.stream.engine import NOT_BEFORE_HEADER, ORDER_KEY_HEADER, ConsumerOptions, StreamConsumer

pytestmark = pytest.mark.integration

FAST = ConsumerOptions(commit_interval_seconds=0.05, idle_poll_ms=100)


async def new_topic(kafka: KafkaHandle, partitions: int = 1) -> str:
    name = f"test.stream.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(name, partitions, 1)])
    finally:
        await admin.close()
    return name


async def produce(kafka: KafkaHandle, topic: str, items: list[tuple[bytes, bytes, list[tuple[str, bytes]]]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, acks="all")
    await producer.start()
    try:
        for key, value, headers in items:
            await producer.send_and_wait(topic, value, key=key, partition=0, headers=headers)
    finally:
        await producer.stop()


async def committed(kafka: KafkaHandle, topic: str, group: str) -> int | None:
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, group_id=group, enable_auto_commit=False)
    await consumer.start()
    try:
        return await consumer.committed(TopicPartition(topic, 0))
    finally:
        await consumer.stop()


async def until(probe: object, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await probe():  # type: ignore[operator]
            return True
        await asyncio.sleep(0.1)
    return False


async def test_a_slow_key_holds_up_no_other_key_and_the_commit_waits_for_it(kafka: KafkaHandle) -> None:
    topic, group = await new_topic(kafka), f"g-{uuid.uuid4().hex[:6]}"
    # offset 0: the slow agency; then 20 records of two other agencies, then one more of the slow one
    items = [(b"slow", b"s0", [])] + [(b"a" if i % 2 else b"b", f"r{i}".encode(), []) for i in range(20)]
    items.append((b"slow", b"s1", []))
    await produce(kafka, topic, items)
    release, handled = asyncio.Event(), []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.key == b"slow" and record.value == b"s0":
            await release.wait()
        handled.append(record.value)

    consumer = StreamConsumer("t", [topic], group, handle, {"bootstrap_servers": kafka.bootstrap_servers}, FAST)
    await consumer.start()
    try:
        assert await until(lambda: _ready(len(handled) >= 20))
        await asyncio.sleep(0.5)  # several commit intervals
        print(f"\nwhile the slow key waits: handled {len(handled)}, committed {await committed(kafka, topic, group)}")
        assert b"s1" not in handled  # order within the slow key is kept
        assert await committed(kafka, topic, group) in (None, 0)  # never past the unfinished offset 0
        release.set()
        assert await until(lambda: _ready(len(handled) == 22))
        assert handled.index(b"s0") < handled.index(b"s1")

        async def all_committed() -> bool:
            return await committed(kafka, topic, group) == 22

        assert await until(all_committed)
    finally:
        await consumer.stop()


async def test_one_record_key_with_different_order_keys_runs_side_by_side_each_in_order(kafka: KafkaHandle) -> None:
    """The HART lead gets every report: its notifications share a record key (the agency, one partition), and
    their order keys (agency and report) let different reports go side by side, each report's in order."""
    topic, group = await new_topic(kafka), f"g-{uuid.uuid4().hex[:6]}"
    items = [(b"hart-lead", b"A1", [(ORDER_KEY_HEADER, b"hart-lead/A")])]
    items += [(b"hart-lead", f"R{i}".encode(), [(ORDER_KEY_HEADER, f"hart-lead/R{i}".encode())]) for i in range(5)]
    items.append((b"hart-lead", b"A2", [(ORDER_KEY_HEADER, b"hart-lead/A")]))
    await produce(kafka, topic, items)
    release, handled = asyncio.Event(), []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.value == b"A1":
            await release.wait()
        handled.append(record.value)

    consumer = StreamConsumer("t", [topic], group, handle, {"bootstrap_servers": kafka.bootstrap_servers}, FAST)
    await consumer.start()
    try:
        assert await until(lambda: _ready(len(handled) >= 5))
        await asyncio.sleep(0.3)
        print(f"\nwhile report A's first waits: handled {sorted(handled)}")
        assert sorted(handled) == [b"R0", b"R1", b"R2", b"R3", b"R4"]  # other reports of the same agency went on
        release.set()
        assert await until(lambda: _ready(len(handled) == 7))
        assert handled[-2:] == [b"A1", b"A2"]  # report A's own order kept
    finally:
        await consumer.stop()


async def test_a_record_not_due_yet_waits_paused_and_is_handled_once_due(kafka: KafkaHandle) -> None:
    topic, group = await new_topic(kafka), f"g-{uuid.uuid4().hex[:6]}"
    due = datetime.now(UTC) + timedelta(seconds=3)
    await produce(kafka, topic, [(b"x", b"later", [(NOT_BEFORE_HEADER, due.isoformat().encode())])])
    handled: list[float] = []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        handled.append(time.time())

    consumer = StreamConsumer("t", [topic], group, handle, {"bootstrap_servers": kafka.bootstrap_servers}, FAST)
    await consumer.start()
    try:
        assert await until(lambda: _ready(bool(handled)), timeout=20)
        print(f"\nhandled {handled[0] - due.timestamp():+.2f} s after it was due")
        assert len(handled) == 1 and handled[0] >= due.timestamp()
    finally:
        await consumer.stop()


async def test_a_paused_partition_is_fetched_soon_after_it_is_due_even_with_a_long_idle_fetch_wait(
    kafka: KafkaHandle,
) -> None:
    """The services' consumers let the broker hold an empty fetch for 5 s (an idle consumer asks rarely). aiokafka
    adds a resumed partition only to the fetch after the one in flight, so without the engine's pacing a due retry
    would wait for the other partition's 5 s fetch to return (here about 2 s late); paced, at most a second."""
    topic, group = await new_topic(kafka, partitions=2), f"g-{uuid.uuid4().hex[:6]}"
    due = datetime.now(UTC) + timedelta(seconds=3)
    await produce(kafka, topic, [(b"x", b"later", [(NOT_BEFORE_HEADER, due.isoformat().encode())])])  # partition 0
    handled: list[float] = []
    waits_while_paused: list[int] = []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        handled.append(time.time())

    kwargs = {"bootstrap_servers": kafka.bootstrap_servers, "fetch_max_wait_ms": 5000}
    consumer = StreamConsumer("t", [topic], group, handle, kwargs, FAST)
    await consumer.start()
    try:
        deadline = time.monotonic() + 20
        while not handled and time.monotonic() < deadline:
            if consumer._resume_times() and consumer._pace is not None:
                waits_while_paused.append(consumer._pace.current_ms)
            await asyncio.sleep(0.05)
        assert handled, "the record was never handled"
        late = handled[0] - due.timestamp()
        print(f"\nhandled {late:+.2f} s after it was due; fetch waits while paused: {sorted(set(waits_while_paused))}")
        assert 0 <= late < 1.5
        assert waits_while_paused and max(waits_while_paused) <= 1000
        # None paused: the long wait again, once a poll comes back empty (after one that returned records the wait
        # stays short, fetch_pace.py), within the consumer's idle poll.
        assert consumer._pace is not None
        for _ in range(int((3 * FAST.idle_poll_ms / 1000 + 1) / 0.05)):
            if consumer._pace.current_ms == 5000:
                break
            await asyncio.sleep(0.05)
        assert consumer._pace.current_ms == 5000
    finally:
        await consumer.stop()


async def test_a_restarted_consumer_resumes_after_the_finished_work_only(kafka: KafkaHandle) -> None:
    topic, group = await new_topic(kafka), f"g-{uuid.uuid4().hex[:6]}"
    await produce(kafka, topic, [(f"k{i % 3}".encode(), str(i).encode(), []) for i in range(30)])
    first: list[int] = []

    async def handle_until_15(record: ConsumerRecord[bytes, bytes]) -> None:
        if record.offset >= 15:
            await asyncio.Event().wait()  # never finishes: the stop cuts it off
        first.append(record.offset)

    servers = {"bootstrap_servers": kafka.bootstrap_servers}
    consumer = StreamConsumer("t", [topic], group, handle_until_15, servers, FAST)
    await consumer.start()
    assert await until(lambda: _ready(len(first) == 15))
    await consumer.stop(graceful_seconds=0.5)
    assert await committed(kafka, topic, group) == 15
    second: list[int] = []

    async def handle(record: ConsumerRecord[bytes, bytes]) -> None:
        second.append(record.offset)

    consumer = StreamConsumer("t", [topic], group, handle, {"bootstrap_servers": kafka.bootstrap_servers}, FAST)
    await consumer.start()
    try:
        assert await until(lambda: _ready(len(second) == 15))
        await asyncio.sleep(0.3)
        print(f"\nfirst life finished {len(first)}, second life handled offsets {min(second)}..{max(second)}")
        assert sorted(second) == list(range(15, 30))
    finally:
        await consumer.stop()


async def _ready(value: bool) -> bool:
    return value
