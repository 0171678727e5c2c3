"""Where each consumer group stands: its committed offsets and the log end of every partition it committed.
Ops shows and alerts on this; the benchmark turns it into lag in seconds. One reading, one definition."""

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

THROWAWAY_GROUPS = ("test-", "redrive-")
"""Groups of tests and one-off readers (redrive): not part of the pipeline's health."""


async def committed_and_log_ends(
    admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer
) -> tuple[dict[str, dict[TopicPartition, int]], dict[TopicPartition, int]]:
    """Every pipeline group's committed offsets (group -> partition -> offset), and the log-end offsets of those
    partitions (`consumer` is a group-less client used only to ask for them)."""
    groups = sorted(str(g[0]) for g in await admin.list_consumer_groups() if not str(g[0]).startswith(THROWAWAY_GROUPS))
    committed: dict[str, dict[TopicPartition, int]] = {}
    for group in groups:
        offsets = await admin.list_consumer_group_offsets(group)
        committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
    partitions = sorted({tp for offsets in committed.values() for tp in offsets})
    ends = await consumer.end_offsets(partitions) if partitions else {}
    return committed, {tp: int(end) for tp, end in ends.items()}
