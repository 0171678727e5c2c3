"""The fetch wait a consumer asks the broker for: long while nothing is paused, short and never past the soonest
due time while something is (shared/stream/fetch_pace.py)."""

from shared.stream.fetch_pace import FLOWING_FETCH_WAIT_MS, RESUMING_FETCH_WAIT_MS, fetch_wait_ms


def test_nothing_paused_keeps_the_configured_wait() -> None:
    assert fetch_wait_ms([], now=100.0, idle_ms=5000) == 5000


def test_a_paused_partition_due_later_than_the_resuming_wait_gets_the_resuming_wait() -> None:
    assert fetch_wait_ms([160.0, 130.0], now=100.0, idle_ms=5000) == RESUMING_FETCH_WAIT_MS


def test_never_past_the_soonest_due_time() -> None:
    assert fetch_wait_ms([100.3, 400.0], now=100.0, idle_ms=5000) == 300


def test_overdue_asks_for_a_token_wait_not_a_negative_one() -> None:
    assert fetch_wait_ms([99.0], now=100.0, idle_ms=5000) == 10


def test_a_configured_wait_shorter_than_the_resuming_one_is_kept() -> None:
    assert fetch_wait_ms([200.0], now=100.0, idle_ms=500) == 500


def test_while_records_flow_the_wait_is_short() -> None:
    """A partition aiokafka left out of a fetch (its records not all handed out yet) waits for that fetch to return:
    at the idle wait, one agency's notifications were 5 s late at 50 reports/s."""
    assert fetch_wait_ms([], now=100.0, idle_ms=5000, flowing=True) == FLOWING_FETCH_WAIT_MS


def test_flowing_and_paused_take_the_shortest_limit() -> None:
    assert fetch_wait_ms([100.05], now=100.0, idle_ms=5000, flowing=True) == 50
    assert fetch_wait_ms([160.0], now=100.0, idle_ms=5000, flowing=True) == FLOWING_FETCH_WAIT_MS
