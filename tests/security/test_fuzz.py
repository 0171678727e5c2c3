"""Schema-driven fuzzing (schemathesis) of intake's and acks' OpenAPI documents, authentication configured:
no 5xx, and no response that echoes submitted text back. In process (ASGI), Kafka replaced by a recorder,
SQLite migrated; intake checks real JWTs (a local key pair stands in for the issuer's JWKS)."""

import json
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from devtools.runner.samples import sample_report
from services.intake.settings import IntakeSettings
from shared.store.migrate import upgrade
from tests.fakes import CountingBroker

ISSUER = "https://idp.example.org/realms/careline"
KEY = RSAKey.generate_key(2048, parameters={"kid": "fuzz"})
IDS = {"careline_report_id", "report_id", "notification_id", "agency_id"}
FIGURES: Counter[str] = Counter()


async def _jwks(_: bool) -> dict[str, Any]:
    return KeySet([KEY]).as_dict(private=False)


def _token() -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "careline-intake", "exp": now + 3600, "sub": "fuzzer", "client_id": "fuzzer",
              "scope": "reports:write reports:read"}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": "fuzz"}, claims, KEY)


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for k, v in value.items():
            if k not in IDS:
                yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)
    elif isinstance(value, str) and len(value.strip()) >= 12:  # shorter ones collide with our own words
        yield value


def _values(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for v in value.values():
            yield from _values(v)
    elif isinstance(value, list):
        for v in value:
            yield from _values(v)
    elif isinstance(value, str):
        yield value


def _no_echo(case: Any, text: str) -> None:
    """No submitted text (ids aside) inside any value of the answer (its keys are our own vocabulary)."""
    try:
        answered = list(_values(json.loads(text)))
    except ValueError:
        answered = [text]
    for submitted in _strings(case.body if isinstance(case.body, dict | list) else None):
        assert not any(submitted in v for v in answered), f"response echoes submitted text {submitted[:40]!r}"


BROKER = CountingBroker()


def _build(tmp: Path) -> dict[str, FastAPI]:
    """Both apps, on a migrated SQLite file and the recorder; the environment is restored right after."""
    url = f"sqlite+aiosqlite:///{tmp / 'fuzz.db'}"
    upgrade(url)
    mp = pytest.MonkeyPatch()
    mp.setenv("DATABASE_URL", url)
    mp.setattr("services.intake.app.make_broker", lambda *_a, **_k: BROKER)
    mp.setattr("services.acks.app.make_broker", lambda *_a, **_k: BROKER)
    try:
        from services.acks.app import create_app as acks_app
        from services.intake.app import create_app as intake_app

        intake = intake_app(
            IntakeSettings(auth="oidc", auth_issuer=ISSUER, consume_inbound_topic=False, rate_burst=100000),
            fetch_jwks=_jwks,
        )
        return {"intake": intake, "acks": acks_app()}
    finally:
        mp.undo()


APPS = _build(Path(tempfile.mkdtemp(prefix="careline-fuzz-")))
intake_schema = schemathesis.openapi.from_asgi("/openapi.json", APPS["intake"])
acks_schema = schemathesis.openapi.from_asgi("/openapi.json", APPS["acks"])


@pytest.fixture(scope="module", autouse=True)
def running() -> Iterator[None]:
    """Both lifespans run for the module (the recorder 'connects' at once), so intake is ready to accept."""
    with TestClient(APPS["intake"]) as intake, TestClient(APPS["acks"]) as acks:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not (
            intake.get("/healthz").status_code == acks.get("/healthz").status_code == 200
        ):
            time.sleep(0.05)
        yield
    print(f"\nfuzz figures: {dict(sorted(FIGURES.items()))}; records published: {BROKER.published}")


@intake_schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_intake_fuzz_no_5xx_no_echo(case: Any) -> None:
    response = case.call(headers={"authorization": f"Bearer {_token()}"})
    FIGURES[f"intake {case.method} {case.path} {response.status_code}"] += 1
    assert response.status_code < 500, response.text[:300]
    _no_echo(case, response.text)


@acks_schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_acks_fuzz_no_5xx_no_echo(case: Any) -> None:
    response = case.call()
    FIGURES[f"acks {case.method} {case.path} {response.status_code}"] += 1
    assert response.status_code < 500, response.text[:300]
    _no_echo(case, response.text)


@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    first_name=st.text(min_size=1, max_size=100),
    narrative=st.text(min_size=1, max_size=2000),
    town=st.text(min_size=2, max_size=80),
    platforms=st.lists(st.text(max_size=200), max_size=5),
)
def test_intake_fuzz_valid_shaped_reports(first_name: str, narrative: str, town: str, platforms: list[str]) -> None:
    """Schemathesis rarely builds a report inside the received_at bounds; this drives the accepting path:
    a sample report with arbitrary text in its personal fields, accepted (202) or refused (409/422), never a
    5xx, and none of that text in the answer."""
    report = sample_report(f"CL-FZ-{uuid.uuid4().hex[:8].upper()}", "Hartford")
    report["received_at"] = datetime.now(UTC).isoformat()
    report["child"]["first_name"] = first_name
    report["narrative"] = narrative
    report["residence_town"] = town
    report["online_platforms"] = platforms
    with TestClient(APPS["intake"]) as client:
        response = client.post("/v1/reports", json=report, headers={"authorization": f"Bearer {_token()}"})
    FIGURES[f"intake POST /v1/reports (valid-shaped) {response.status_code}"] += 1
    assert response.status_code in (202, 409, 422), response.text[:300]
    answer = {k: v for k, v in response.json().items() if k not in ("report_id", "status_url")}  # ids
    for text in (first_name, narrative, town, *platforms):
        if len(text.strip()) >= 12:
            assert not any(text in v for v in _values(answer)), f"answer echoes submitted text {text[:40]!r}"


def test_fuzz_figures_reached_every_operation() -> None:
    print("\n" + json.dumps(dict(sorted(FIGURES.items())), indent=1))
    assert any(k.startswith("intake POST /v1/reports") for k in FIGURES)
    assert any(k.startswith("acks POST /v1/acks") for k in FIGURES)
    assert FIGURES["intake POST /v1/reports (valid-shaped) 202"] > 0
