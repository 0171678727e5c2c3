"""Ops pieces that need no broker: password checks, percentiles, the page's assets and escaping, gauges."""

import asyncio

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from services.ops.auth import Authenticator
from services.ops.metrics import AT_RISK, PAST_DEADLINE
from services.ops.page import dashboard_page, report_page, static_file
from services.ops.passwords import hash_password, verify_password
from services.ops.queries import STATES, percentile
from services.ops.snapshot import update_gauges


def test_password_hash_is_argon2_and_verifies() -> None:
    hashed = hash_password("correct horse")
    assert hashed.startswith("$argon2id$") and "correct horse" not in hashed
    assert verify_password(hashed, "correct horse")
    assert not verify_password(hashed, "wrong")
    assert not verify_password("not-a-hash", "correct horse")


def _request(authorization: str | None) -> Request:
    headers = [(b"authorization", authorization.encode())] if authorization else []
    return Request({"type": "http", "method": "GET", "path": "/", "headers": headers, "query_string": b""})


def _basic(user: str, password: str) -> str:
    import base64

    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def test_authenticator_accepts_the_configured_user_and_refuses_everything_else() -> None:
    auth = Authenticator("ops", hash_password("s3cret"))
    assert asyncio.run(auth(_request(_basic("ops", "s3cret")))) == "ops"
    assert asyncio.run(auth(_request(_basic("ops", "s3cret")))) == "ops"  # remembered, same answer
    for header in (None, _basic("ops", "nope"), _basic("admin", "s3cret"), "Bearer x"):
        with pytest.raises(HTTPException) as refused:
            asyncio.run(auth(_request(header)))
        assert refused.value.status_code == 401
        assert refused.value.headers and refused.value.headers["WWW-Authenticate"].startswith("Basic")


def test_no_configured_hash_means_nobody_gets_in() -> None:
    with pytest.raises(HTTPException):
        asyncio.run(Authenticator("ops", None)(_request(_basic("ops", ""))))


def test_percentile_nearest_rank() -> None:
    assert percentile([], 0.5) is None
    assert percentile([3.0], 0.95) == 3.0
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0


def test_static_assets_only_from_the_static_folder() -> None:
    assert static_file("dashboard.js") is not None
    assert static_file("../app.py") is None
    assert static_file("missing.js") is None
    assert static_file("uPlot.iife.min.js") is not None  # the vendored chart library, served with the page
    assert static_file("uPlot.LICENSE") is None  # only .js and .css are served
    page = dashboard_page()
    assert "/static/dashboard.js" in page and "/static/uPlot.iife.min.js" in page


def test_pages_hold_no_inline_script_or_style() -> None:
    """So that a strict Content-Security-Policy (script-src 'self'; style-src 'self') can hold."""
    import re

    for page in (dashboard_page(), report_page("CL-1")):
        assert re.findall(r"<script(?![^>]*\bsrc=)", page) == []
        assert "<style" not in page and " style=" not in page and "onclick" not in page.lower()


def test_report_page_never_lets_a_report_id_become_markup() -> None:
    page = report_page("</script><script>alert(1)</script>")
    assert "<script>alert(1)" not in page


def test_gauges_take_counts_per_kind_and_zero_a_kind_without_clocks() -> None:
    from services.ops.metrics import DEAD_LETTERED, NOTIFICATIONS

    kinds = [{"recipient_kind": "police", **dict.fromkeys(STATES, 0), "delivered": 1, "dead_lettered": 3}]
    update_gauges(kinds, {"police": {"missed": 1, "at_risk": 250}})
    assert AT_RISK.labels("police")._value.get() == 250 and PAST_DEADLINE.labels("police")._value.get() == 1
    assert (
        DEAD_LETTERED.labels("police")._value.get() == 3
        and NOTIFICATIONS.labels("police", "delivered")._value.get() == 1
    )
    update_gauges(kinds, {})
    assert AT_RISK.labels("police")._value.get() == 0 and PAST_DEADLINE.labels("police")._value.get() == 0


def test_the_alert_gauges_refresh_without_anyone_viewing_the_page() -> None:
    """Prometheus alerts on ops' gauges: they must move with the database, not with page views."""
    from services.ops.metrics import DEAD_LETTERED
    from services.ops.pacing import Pace
    from services.ops.snapshot import keep_gauges_fresh

    refreshed_twice = asyncio.Event()

    class Queries:
        calls = 0

        async def by_kind(self) -> list[dict[str, object]]:
            Queries.calls += 1
            if Queries.calls >= 2:
                refreshed_twice.set()
            return [{"recipient_kind": "hhs", **dict.fromkeys(STATES, 0), "dead_lettered": 2}]

        async def clock_counts(self, at_risk_seconds: float) -> dict[str, dict[str, int]]:
            return {"hhs": {"missed": 1, "at_risk": 1}}

        async def disabled_endpoints(self) -> list[dict[str, object]]:
            return []

    async def run_a_while() -> None:
        unwatched = Pace(watched_seconds=0.01, unwatched_seconds=0.01)
        task = asyncio.create_task(keep_gauges_fresh(Queries(), 3600, unwatched))  # type: ignore[arg-type]
        await refreshed_twice.wait()
        task.cancel()

    asyncio.run(asyncio.wait_for(run_a_while(), timeout=10))
    assert DEAD_LETTERED.labels("hhs")._value.get() == 2
    assert AT_RISK.labels("hhs")._value.get() == 1 and PAST_DEADLINE.labels("hhs")._value.get() == 1
