"""Every Kafka topic the pipeline uses, with partitions and configs, in one place.

Topics are created explicitly by `ensure_topics`; brokers run with auto-creation off.
"""

from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared.events.notification import RecipientKind

CARELINE_INBOUND = "careline.reports.inbound.v1"
REPORTS = "careline.reports.v1"
ROUTING_DECISIONS = "routing.decisions.v1"
ACKNOWLEDGEMENTS = "acknowledgements.v1"
ESCALATIONS = "escalations.v1"
DEAD_LETTERS = "pipeline.deadletter.v1"
NOTIFICATION_DEAD_LETTERS = "notifications.deadletter.v1"


def notification_topic(kind: RecipientKind) -> str:
    return f"notifications.{kind.value}.v1"


NOTIFICATION_TOPICS = {kind: notification_topic(kind) for kind in RecipientKind}

# Delayed-retry tiers: a notification whose attempt failed waits in the tier of its next delay, so a
# failing recipient never blocks the main topic. Every message in a tier has the same delay, so each
# tier is consumed in due order. Per-kind schedules (notifier settings) pick from these.
RETRY_TIERS_SECONDS = (1, 5, 30, 120, 600, 1800)


def retry_topic(kind: RecipientKind, delay_seconds: int) -> str:
    if delay_seconds not in RETRY_TIERS_SECONDS:
        raise ValueError(f"no retry tier of {delay_seconds}s; tiers are {RETRY_TIERS_SECONDS}")
    return f"notifications.{kind.value}.retry-{delay_seconds}s.v1"


# As long as the database keeps a report (AUDIT_RETENTION_DAYS, default 400): dead letters point into these topics.
_RETENTION_MS = str(400 * 24 * 3600 * 1000)


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(replication_factor: int = 1) -> list[TopicSpec]:
    """Retention of a year covers the audit duty (CJIS 5.4.7); min ISR follows the replication factor."""
    base = {
        "retention.ms": _RETENTION_MS,
        "min.insync.replicas": str(max(1, replication_factor - 1)),
        "unclean.leader.election.enable": "false",
    }
    specs = [
        TopicSpec(CARELINE_INBOUND, 6, base),
        TopicSpec(REPORTS, 6, base),
        TopicSpec(ROUTING_DECISIONS, 3, base),
        TopicSpec(ACKNOWLEDGEMENTS, 3, base),
        TopicSpec(ESCALATIONS, 3, base),
        TopicSpec(DEAD_LETTERS, 1, base),
        TopicSpec(NOTIFICATION_DEAD_LETTERS, 1, base),
    ]
    specs += [TopicSpec(name, 6, base) for name in NOTIFICATION_TOPICS.values()]
    # One partition per retry tier: a tier holds only what failed, and the lanes inside a partition keep agencies
    # apart; every partition a notifier reads is in each of its fetch requests (aiokafka sends the full list every
    # time), so 3 per tier made 108 of its 144 partitions, mostly empty, the bulk of its and the broker's work.
    specs += [TopicSpec(retry_topic(kind, delay), 1, base) for kind in RecipientKind for delay in RETRY_TIERS_SECONDS]
    return specs


async def ensure_topics(bootstrap_servers: str, replication_factor: int = 1, **client_kwargs: object) -> None:
    """Create every topic that does not exist yet; existing ones are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers, **client_kwargs)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [s for s in topic_specs(replication_factor) if s.name not in existing]
        if not missing:
            return
        new = [NewTopic(s.name, s.partitions, replication_factor, topic_configs=s.configs) for s in missing]
        try:
            await admin.create_topics(new)
        except TopicAlreadyExistsError:
            pass
    finally:
        await admin.close()
