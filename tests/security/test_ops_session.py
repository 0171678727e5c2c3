"""The ops login session (OIDC): its cookie is always Secure in production and whenever ops is served behind
https, and a session unused for OPS_SESSION_IDLE_MINUTES is refused (and emptied), through the real
SessionMiddleware with cookies signed as it signs them."""

import json
import time
from base64 import b64decode, b64encode
from pathlib import Path

import itsdangerous
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.ops.app import create_app
from services.ops.oidc import SESSION_COOKIE
from services.ops.passwords import hash_password
from services.ops.settings import OpsSettings
from shared.settings import KafkaSettings
from shared.store.migrate import upgrade
from tests.security.probe import tried

SECRET = "a-session-secret-for-this-test-only-0123456789"
CLOSED = "http://127.0.0.1:9/idp"  # nothing answers: no provider is needed to judge a session


def _client(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: str, **settings: object) -> TestClient:
    monkeypatch.setenv("ENVIRONMENT", environment)
    url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    upgrade(url)
    monkeypatch.setenv("DATABASE_URL", url)
    ops = OpsSettings(
        password_hash=SecretStr(hash_password("s3cret")),
        oidc_issuer=CLOSED,
        session_secret=SecretStr(SECRET),
        **settings,  # type: ignore[arg-type]
    )
    return TestClient(create_app(ops, KafkaSettings(bootstrap_servers="127.0.0.1:9")), base_url="https://testserver")


def _cookie(session: dict[str, object]) -> str:
    return itsdangerous.TimestampSigner(SECRET).sign(b64encode(json.dumps(session).encode())).decode()


@pytest.mark.parametrize(
    ("environment", "public_url", "secure"),
    [
        ("production", None, True),
        ("production", "http://ops.internal", True),  # production: Secure whatever the URL says
        ("test", "https://ops.example.org", True),
        ("test", None, False),  # loopback, plain http: a Secure cookie would never come back
    ],
)
def test_the_session_cookie_is_secure_behind_https_and_always_in_production(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, environment: str, public_url: str | None, secure: bool
) -> None:
    client = _client(tmp_path, monkeypatch, environment, oidc_public_url=public_url)
    started = client.get("/auth/login", follow_redirects=False)  # stores where to go next: a session cookie
    cookie = started.headers.get("set-cookie", "")
    tried(f"GET /auth/login, ENVIRONMENT={environment}, OPS_OIDC_PUBLIC_URL={public_url}", cookie[-80:])
    assert cookie.startswith(f"{SESSION_COOKIE}=") and "samesite=lax" in cookie.lower()
    assert ("; secure" in cookie.lower()) is secure


def test_a_session_unused_for_the_idle_timeout_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(tmp_path, monkeypatch, "test", session_idle_minutes=30)
    now = int(time.time())
    fresh = _cookie({"user": "oidc:alice", "since": now - 3600, "seen": now - 29 * 60})
    idle = _cookie({"user": "oidc:alice", "since": now - 3600, "seen": now - 31 * 60})
    used = client.get("/api/summary", cookies={SESSION_COOKIE: fresh})
    refused = client.get("/api/summary", cookies={SESSION_COOKIE: idle})
    tried("GET /api/summary with a session last used 29 min ago, then one last used 31 min ago (idle 30)",
          f"{used.status_code}, {refused.status_code} {refused.text[:60]}")  # fmt: skip
    assert used.status_code == 200
    assert refused.status_code == 401
    assert "null" in refused.headers.get("set-cookie", "")  # the idle session is emptied, not kept for later

    renewed = used.cookies.get(SESSION_COOKIE) or used.headers["set-cookie"].split(";")[0].split("=", 1)[1]
    data = json.loads(b64decode(itsdangerous.TimestampSigner(SECRET).unsign(renewed)))
    tried("the session after that use", data)
    assert data["seen"] >= now  # using it moved the idle clock
