"""The notifier's handler without a broker: a fake store, a recording publisher and a fake agency client, one
table row per branch (delivered, duplicate, dead-lettered without redrive, disabled endpoint, open breaker, 410,
retries exhausted, unknown notification)."""

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiokafka import ConsumerRecord

from services.notifier.handler import RETRIES_HEADER, NotificationDeliverer
from services.notifier.settings import NotifierSettings
from shared.consuming import PoisonMessage
from shared.directory.endpoints import AgencyEndpoint
from shared.egress import EgressResponse
from shared.events import Notification, RecipientKind
from shared.redrive import REDRIVE_HEADER
from shared.signing import verify_signature
from shared.states import AttemptOutcome, NotificationState
from shared.store.repository import AttemptToRecord

NOW = datetime.now(UTC)
SECRET = "whsec_" + "MDEyMzQ1Njc4OTAxMjM0NTY3ODkwMTIzNDU2Nzg5MDE="
NOTIFICATION = Notification(
    notification_id="ntf_test",
    report_id="CL-1",
    recipient_kind=RecipientKind.POLICE,
    agency_id="pd-hartford",
    agency_name="Hartford Police Department",
    reason="child's town",
    deadline_at=NOW + timedelta(hours=12),
    policy_version="test",
    created_at=NOW,
    payload={"careline_report_id": "CL-1"},
)


@dataclass
class FakeStore:
    state: NotificationState | None = NotificationState.PENDING
    disabled: bool = False
    recorded: list[AttemptToRecord] = field(default_factory=list)
    states_set: list[NotificationState] = field(default_factory=list)
    disabled_by_notifier: list[str] = field(default_factory=list)

    async def notification_state(self, _: str) -> NotificationState | None:
        return self.state

    async def endpoint_disabled(self, _: str) -> bool:
        return self.disabled

    async def record_attempt(self, attempt: AttemptToRecord) -> int:
        self.recorded.append(attempt)
        return len(self.recorded)

    async def attempts(self, _: str) -> int:
        return len(self.recorded)

    async def set_state(self, _: str, state: NotificationState) -> None:
        self.states_set.append(state)

    async def set_endpoint_disabled(self, agency_id: str, disabled: bool, **_: Any) -> None:
        self.disabled_by_notifier.append(agency_id)


@dataclass
class RecordingBroker:
    published: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    async def publish(self, _: bytes, topic: str, *, headers: dict[str, str] | None = None, **__: Any) -> None:
        self.published.append((topic, headers or {}))


class Endpoints:
    def get(self, agency_id: str) -> AgencyEndpoint:
        return AgencyEndpoint(agency_id, f"https://agency.example/{agency_id}", (SECRET,), (SECRET,))


def record(headers: dict[str, str] | None = None) -> ConsumerRecord[bytes, bytes]:
    body = NOTIFICATION.model_dump_json().encode()
    encoded = tuple((k, v.encode()) for k, v in (headers or {}).items())
    return ConsumerRecord("notifications.police.v1", 0, 3, 0, 0, b"pd-hartford", body, None, 11, len(body), encoded)


@dataclass
class SentRequest:
    url: str
    content: bytes
    headers: dict[str, str]


class FakeAgency:
    """Stands in for the egress client: records each POST, checks its signature as the agency would."""

    def __init__(self, status: int, calls: list[SentRequest]) -> None:
        self._status = status
        self._calls = calls

    async def post(
        self, url: str, content: bytes = b"", headers: dict[str, str] | None = None, *, max_response_bytes: int = 0
    ) -> EgressResponse:
        self._calls.append(SentRequest(url, content, dict(headers or {})))
        verify_signature((SECRET,), content, dict(headers or {}))  # what the agency checks
        return EgressResponse(self._status, {}, b"")


def deliverer(store: FakeStore, status: int, calls: list[SentRequest]) -> tuple[NotificationDeliverer, Any]:
    broker = RecordingBroker()
    client = FakeAgency(status, calls)
    settings = NotifierSettings(kinds=[RecipientKind.POLICE], retry_schedule=[5, 30], breaker_failure_threshold=2)
    handler = NotificationDeliverer(broker, store, Endpoints(), client, settings)  # type: ignore[arg-type]
    return handler, broker


@pytest.mark.parametrize(
    ("name", "store", "status", "headers", "calls", "outcome", "topics"),
    [
        ("delivered", FakeStore(), 200, {}, 1, AttemptOutcome.DELIVERED, []),
        ("duplicate of a delivered one", FakeStore(NotificationState.DELIVERED), 200, {}, 0, None, []),
        ("duplicate of an acknowledged one", FakeStore(NotificationState.ACKNOWLEDGED), 200, {}, 0, None, []),
        ("dead-lettered, no redrive", FakeStore(NotificationState.DEAD_LETTERED), 200, {}, 0, None, []),
        ("dead-lettered, redriven", FakeStore(NotificationState.DEAD_LETTERED), 200, {REDRIVE_HEADER: "true"}, 1,
         AttemptOutcome.DELIVERED, []),
        ("disabled endpoint", FakeStore(disabled=True), 200, {}, 0, None, ["notifications.deadletter.v1"]),
        ("503: next tier", FakeStore(), 503, {}, 1, AttemptOutcome.RETRYABLE, ["notifications.police.retry-5s.v1"]),
        ("503 after one retry: second tier", FakeStore(), 503, {RETRIES_HEADER: "1"}, 1, AttemptOutcome.RETRYABLE,
         ["notifications.police.retry-30s.v1"]),
        ("503, retries exhausted", FakeStore(), 503, {RETRIES_HEADER: "2"}, 1, AttemptOutcome.RETRYABLE,
         ["notifications.deadletter.v1"]),
        ("410 disables the endpoint", FakeStore(), 410, {}, 1, AttemptOutcome.GONE, ["notifications.deadletter.v1"]),
        ("400 is not retried", FakeStore(), 400, {}, 1, AttemptOutcome.REJECTED, ["notifications.deadletter.v1"]),
    ],
)  # fmt: skip
async def test_branches(
    name: str,
    store: FakeStore,
    status: int,
    headers: dict[str, str],
    calls: int,
    outcome: AttemptOutcome | None,
    topics: list[str],
) -> None:
    requests: list[SentRequest] = []
    handler, broker = deliverer(store, status, requests)
    await handler(record(headers))
    assert len(requests) == calls, name
    assert [a.outcome for a in store.recorded] == ([outcome] if outcome else []), name
    assert [topic for topic, _ in broker.published] == topics, name
    if "deadletter" in "".join(topics):
        assert store.states_set == [NotificationState.DEAD_LETTERED]
    assert store.disabled_by_notifier == (["pd-hartford"] if status == 410 else [])


async def test_an_open_breaker_skips_the_call_and_schedules_the_retry() -> None:
    store, requests = FakeStore(), []
    handler, broker = deliverer(store, 503, requests)  # type: ignore[arg-type]
    for _ in range(2):  # threshold 2: the circuit opens
        await handler(record())
    await handler(record())
    assert len(requests) == 2
    assert store.recorded[-1].outcome == AttemptOutcome.CIRCUIT_OPEN
    topic, headers = broker.published[-1]
    assert topic == "notifications.police.retry-5s.v1" and headers[RETRIES_HEADER] == "1"
    assert handler.breakers.open_circuits() == ["pd-hartford"]


async def test_a_last_try_is_a_real_call_even_while_the_breaker_is_open() -> None:
    """The half-open breaker lets one trial through and refuses the rest; a notification on its last try is
    called anyway, so it is dead-lettered only after its agency really failed it (and a recovered agency
    delivers it)."""
    store, requests = FakeStore(), []
    handler, broker = deliverer(store, 503, requests)  # type: ignore[arg-type]
    for _ in range(2):  # threshold 2: the circuit opens
        await handler(record())
    await handler(record())  # an early try: skipped
    assert len(requests) == 2
    await handler(record({RETRIES_HEADER: "2"}))  # the last try (schedule [5, 30]): called
    assert len(requests) == 3
    assert store.recorded[-1].outcome == AttemptOutcome.RETRYABLE
    assert [topic for topic, _ in broker.published][-1] == "notifications.deadletter.v1"


async def test_a_redriven_notification_is_called_even_while_the_breaker_is_open() -> None:
    """A redrive is ops saying the agency is back: skipping it would race the half-open breaker's one trial call
    when several are redriven at once (tests/fault/test_redrive.py saw one of five take an extra attempt)."""
    store, requests = FakeStore(), []
    handler, _ = deliverer(store, 503, requests)  # type: ignore[arg-type]
    for _ in range(2):  # threshold 2: the circuit opens
        await handler(record())
    await handler(record({REDRIVE_HEADER: "true"}))
    assert len(requests) == 3
    assert store.recorded[-1].outcome == AttemptOutcome.RETRYABLE


async def test_a_notification_never_routed_is_poison() -> None:
    handler, _ = deliverer(FakeStore(state=None), 200, [])
    with pytest.raises(PoisonMessage, match="never routed"):
        await handler(record())


async def test_the_dead_letter_points_to_the_record_and_copies_nothing() -> None:
    store = FakeStore()
    bodies: list[bytes] = []
    handler, broker = deliverer(store, 400, [])

    async def publish(body: bytes, topic: str, **_: Any) -> None:
        bodies.append(body)

    broker.publish = publish
    await handler(record())
    letter = json.loads(bodies[-1])
    assert (letter["source_topic"], letter["source_partition"], letter["source_offset"]) == (
        "notifications.police.v1", 0, 3,
    )  # fmt: skip
    assert letter["original_value_b64"] is None and letter["reason"] == "rejected"
