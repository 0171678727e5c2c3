"""The AsyncAPI 3 document of every topic (docs/asyncapi.yaml), from shared/topics.py and the event models.

FastStream can describe the subscribers it knows, but the services publish with `broker.publish` and wrap
FastStream in FastAPI, so this generator builds the document from the code's own definitions instead: topic
names, partitions and configs from `topic_specs()`, the payload of each topic from its pydantic event model,
who sends and who receives from the access table the chart's ACLs come from (devtools/deploy/kafka_access.py).
"""

from typing import Any

from pydantic import BaseModel

from devtools.deploy.kafka_access import service_access
from devtools.deploy.topics import REPLICATION_FACTOR
from services.notifier.handler import RETRIES_HEADER
from shared.envelope import ALGORITHM, ALGORITHM_HEADER, KEY_ID_HEADER
from shared.events import (
    AcknowledgementRecorded,
    CarelineReport,
    DeadLetter,
    EscalationRecorded,
    Notification,
    RecipientKind,
    ReportReceived,
    RoutingDecisionRecorded,
)
from shared.redrive import REDRIVE_HEADER
from shared.stream.engine import NOT_BEFORE_HEADER
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
    topic_specs,
)

VERSION = "1.0.0"
Json = dict[str, Any]

# What each topic carries, and the record key (ordering is per key).
_EVENTS: dict[str, tuple[type[BaseModel], str, str]] = {
    CARELINE_INBOUND: (CarelineReport, "careline_report_id", "Careline systems publishing instead of POST /v1/reports"),
    REPORTS: (ReportReceived, "careline_report_id", "Every report intake accepted (202 only after acks=all)"),
    ROUTING_DECISIONS: (RoutingDecisionRecorded, "report_id", "Who the policy names for each report, and why"),
    ACKNOWLEDGEMENTS: (AcknowledgementRecorded, "report_id", "Each recipient's acknowledgement, once"),
    ESCALATIONS: (EscalationRecorded, "report_id", "Escalations fired when an acknowledgement is late"),
    DEAD_LETTERS: (
        DeadLetter,
        "the original record's key",
        "Poison records: the reason, size and hash, never the contents",
    ),
    NOTIFICATION_DEAD_LETTERS: (DeadLetter, "agency_id", "Notifications undeliverable after the last retry tier"),
}
for _kind in RecipientKind:
    _EVENTS[NOTIFICATION_TOPICS[_kind]] = (Notification, "agency_id", f"Notifications for {_kind.value} agencies")
    for _delay in RETRY_TIERS_SECONDS:
        _EVENTS[retry_topic(_kind, _delay)] = (
            Notification,
            "agency_id",
            f"{_kind.value} notifications waiting {_delay}s for their next attempt (same body as the main topic)",
        )


# How a sealed record looks (shared/envelope.py). Unsealed JSON travels only in local/test runs without ENVELOPE_KEYS.
_HEADER_SEALED = (
    f"Sealed (shared/envelope.py): the value is a 12-byte nonce followed by AES-256-GCM ciphertext and tag of the JSON "
    f"below; header {ALGORITHM_HEADER}={ALGORITHM}, header {KEY_ID_HEADER} names the key of ENVELOPE_KEYS, and the "
    "authenticated data is 'careline-envelope-v1|' + the key id. Plain JSON only in local/test runs without keys."
)
_VALUE_SEALED = (
    "Sealed (shared/envelope.py seal_value): the value is the bytes \\x00careline-sealed-v1\\x00, one byte of key id "
    "length, the key id, a 12-byte nonce, then AES-256-GCM ciphertext and tag of the JSON below; the authenticated "
    "data is 'careline-envelope-v1|' + the key id + '|value' (the key id travels in the value, so a copy of the value "
    "alone stays openable). Plain JSON only in local/test runs without keys."
)
_INBOUND = (
    " The Careline's producer seals each record with seal_for_kafka (a key of intake's ENVELOPE_KEYS); in production "
    "intake dead-letters an unsealed one (reason inbound_not_sealed, no contents)."
)


def _sealing(topic: str, model: type[BaseModel]) -> str | None:
    if topic in (CARELINE_INBOUND, REPORTS):
        return _HEADER_SEALED + (_INBOUND if topic == CARELINE_INBOUND else "")
    if model is Notification:
        return _VALUE_SEALED
    return None


def _channel_id(topic: str) -> str:
    return topic.replace(".", "-")


def _schemas(models: set[type[BaseModel]]) -> Json:
    """Each model's JSON Schema under components/schemas; nested models lifted beside it."""
    out: Json = {}
    for model in sorted(models, key=lambda m: m.__name__):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}", mode="serialization")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    return dict(sorted(out.items()))


def _headers(topic: str, model: type[BaseModel]) -> Json:
    props: Json = {"content-type": {"type": "string", "const": "application/json"}}
    if _sealing(topic, model):
        props["content-type"] = {"type": "string", "enum": ["application/octet-stream", "application/json"],
                                 "description": "application/octet-stream when sealed"}  # fmt: skip
    if topic in (CARELINE_INBOUND, REPORTS):
        props[ALGORITHM_HEADER] = {"type": "string", "const": ALGORITHM, "description": "Present when sealed."}
        props[KEY_ID_HEADER] = {"type": "string", "description": "The ENVELOPE_KEYS key id it is sealed with."}
    event_type = model.model_fields.get("event_type")
    if event_type is not None and event_type.default and ".retry-" not in topic:
        props["event-type"] = {"type": "string", "const": event_type.default}
    if ".retry-" in topic:
        props[RETRIES_HEADER] = {"type": "string", "description": "Retries so far (decimal)."}
        props[NOT_BEFORE_HEADER] = {"type": "string", "format": "date-time", "description": "Earliest next attempt."}
    if model is Notification and ".retry-" not in topic:
        props[REDRIVE_HEADER] = {"type": "string", "const": "true", "description": "Set on an ops redrive only."}
    return {"type": "object", "properties": props}


def document() -> Json:
    specs = topic_specs(REPLICATION_FACTOR)
    undocumented = [s.name for s in specs if s.name not in _EVENTS]
    if undocumented:
        raise RuntimeError(f"topics without an event model in devtools/contracts/asyncapi.py: {undocumented}")
    channels: Json = {}
    messages: Json = {}
    for spec in specs:
        model, key, summary = _EVENTS[spec.name]
        message_id = f"{_channel_id(spec.name)}-{model.__name__}"
        messages[message_id] = {
            "name": model.__name__,
            "title": model.__name__,
            "summary": (model.__doc__ or model.__name__).strip().splitlines()[0],
            "contentType": "application/octet-stream" if _sealing(spec.name, model) else "application/json",
            "headers": _headers(spec.name, model),
            "payload": {"$ref": f"#/components/schemas/{model.__name__}"},
            "bindings": {"kafka": {"key": {"type": "string", "description": key}, "bindingVersion": "0.5.0"}},
        }
        if sealing := _sealing(spec.name, model):
            messages[message_id]["description"] = sealing
        channels[_channel_id(spec.name)] = {
            "address": spec.name,
            "description": summary,
            "messages": {model.__name__: {"$ref": f"#/components/messages/{message_id}"}},
            "bindings": {
                "kafka": {
                    "topic": spec.name,
                    "partitions": spec.partitions,
                    "replicas": REPLICATION_FACTOR,
                    "topicConfiguration": {"retention.ms": int(spec.configs["retention.ms"])},
                    "bindingVersion": "0.5.0",
                }
            },
            "x-topic-configs": spec.configs,
        }
    operations: Json = {}
    for service, access in sorted(service_access().items()):
        for action, topics in (("send", access.writes), ("receive", access.reads)):
            for topic in topics:
                model = _EVENTS[topic][0]
                op: Json = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{_channel_id(topic)}"},
                    "messages": [{"$ref": f"#/channels/{_channel_id(topic)}/messages/{model.__name__}"}],
                    "summary": f"{service} {'publishes to' if action == 'send' else 'consumes'} {topic}",
                }
                if action == "receive" and access.groups:
                    group = access.groups[0]
                    op["bindings"] = {
                        "kafka": {
                            "groupId": {"type": "string", "const": group.name}
                            if group.pattern == "literal"
                            else {"type": "string", "pattern": f"^{group.name}"},
                            "bindingVersion": "0.5.0",
                        }
                    }
                operations[f"{service}-{action}-{_channel_id(topic)}"] = op
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Careline DMST notification pipeline: Kafka topics",
            "version": VERSION,
            "description": (
                "Every topic of the pipeline with its event. Generated by `python -m devtools.contracts` from "
                "shared/topics.py and shared/events; tests/unit/test_contracts.py fails when it is stale. "
                "All topics: replication factor 3 in production, min.insync.replicas=2, unclean leader "
                "election off, retention one year; producers are idempotent with acks=all."
            ),
        },
        "defaultContentType": "application/json",
        "servers": {
            "production": {
                "host": "careline-kafka-kafka-bootstrap:9093",
                "protocol": "kafka-secure",
                "description": "Strimzi TLS listener, SCRAM-SHA-512, one user per service (deploy/helm/careline)",
                "security": [{"$ref": "#/components/securitySchemes/scram"}],
            }
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "messages": messages,
            "schemas": _schemas({m for m, _, _ in _EVENTS.values()}),
            "securitySchemes": {"scram": {"type": "scramSha512", "description": "Per-service KafkaUser"}},
        },
    }
