"""Whatever bytes arrive, parsing either yields a valid event or names the poison: never another error."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.consuming import PoisonMessage, parse_event
from shared.events import Notification


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "invalid_json"),
        (b"\xff\xfe not json", "invalid_json"),  # a UTF-16 BOM makes json raise UnicodeDecodeError
        (b'{"notification_id": "x"}', "schema_invalid"),
        (b"[]", "schema_invalid"),
    ],
)
def test_poison_is_named(body: bytes, reason: str) -> None:
    with pytest.raises(PoisonMessage) as raised:
        parse_event(Notification, body)
    assert raised.value.reason == reason


@given(st.binary(max_size=200))
def test_arbitrary_bytes_are_poison_not_a_crash(body: bytes) -> None:
    with pytest.raises(PoisonMessage):
        parse_event(Notification, body)
