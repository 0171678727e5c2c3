"""Which topics and consumer groups each service may use: the source of the chart's KafkaUser ACLs.

Topic names come from shared/topics.py and group names from the services' own constants (the notifier's from
`services.notifier.app.group_id`: one group per recipient kind, reading its main topic and every retry tier), so a
renamed topic or group changes the ACLs with it.
"""

from dataclasses import dataclass
from typing import Literal

from services.escalator.app import GROUP_ID as ESCALATOR_GROUP
from services.notifier.app import group_id as notifier_group
from services.router.app import GROUP_ID as ROUTER_GROUP
from shared.events.notification import RecipientKind
from shared.topics import (
    ACKNOWLEDGEMENTS,
    CARELINE_INBOUND,
    DEAD_LETTERS,
    ESCALATIONS,
    NOTIFICATION_DEAD_LETTERS,
    NOTIFICATION_TOPICS,
    REPORTS,
    RETRY_TIERS_SECONDS,
    ROUTING_DECISIONS,
    retry_topic,
)

PatternType = Literal["literal", "prefix"]

INTAKE_INBOUND_GROUP = "intake-inbound"
# One consumer group per recipient kind (services/notifier/app.py: group_id), reading the main topic and every tier.
NOTIFIER_GROUP_PATTERN: PatternType = "literal"


@dataclass(frozen=True)
class Group:
    name: str
    pattern: PatternType = "literal"


@dataclass(frozen=True)
class ServiceAccess:
    """reads: topics consumed (in a group) or read without one; writes: topics published to."""

    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    groups: tuple[Group, ...] = ()
    describe_all_groups: bool = False  # ops reads every group's lag


def _tiers(kind: RecipientKind) -> tuple[str, ...]:
    return tuple(retry_topic(kind, delay) for delay in RETRY_TIERS_SECONDS)


ALL_NOTIFICATION_TOPICS = tuple(NOTIFICATION_TOPICS.values())


def service_access() -> dict[str, ServiceAccess]:
    """Every Kafka client of the pipeline, by the name its KafkaUser and Deployment carry."""
    access = {
        # HTTP reports and the Kafka way in; poison from the inbound topic is dead-lettered.
        "intake": ServiceAccess(
            reads=(CARELINE_INBOUND,), writes=(REPORTS, DEAD_LETTERS), groups=(Group(INTAKE_INBOUND_GROUP),)
        ),
        "router": ServiceAccess(
            reads=(REPORTS,),
            writes=(*ALL_NOTIFICATION_TOPICS, ROUTING_DECISIONS, DEAD_LETTERS),
            groups=(Group(ROUTER_GROUP),),
        ),
        # Escalations are new notifications to the next agency of the chain, of any kind.
        "escalator": ServiceAccess(
            reads=(ROUTING_DECISIONS,),
            writes=(*ALL_NOTIFICATION_TOPICS, ESCALATIONS, DEAD_LETTERS),
            groups=(Group(ESCALATOR_GROUP),),
        ),
        "acks": ServiceAccess(writes=(ACKNOWLEDGEMENTS,)),
        # Lag of every group; redrive reads the notification dead letters (no group) and republishes them.
        "ops": ServiceAccess(
            reads=(NOTIFICATION_DEAD_LETTERS,), writes=ALL_NOTIFICATION_TOPICS, describe_all_groups=True
        ),
    }
    for kind in RecipientKind:
        access[f"notifier-{kind.value}"] = ServiceAccess(
            reads=(NOTIFICATION_TOPICS[kind], *_tiers(kind)),
            writes=(*_tiers(kind), NOTIFICATION_DEAD_LETTERS, DEAD_LETTERS),
            groups=(Group(notifier_group(kind), NOTIFIER_GROUP_PATTERN),),
        )
    return access


def group_allowed(access: ServiceAccess, group: str) -> bool:
    """Kafka's own matching: a literal ACL names the group, a prefixed one starts it."""
    return any(g.name == group if g.pattern == "literal" else group.startswith(g.name) for g in access.groups)
