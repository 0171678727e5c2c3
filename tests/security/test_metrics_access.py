"""/metrics (shared/http.py, every service): only with the bearer METRICS_TOKEN; open without one only when
METRICS_OPEN=true in a local or test run; production refuses to start without a token (test_fail_closed)."""

import secrets

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shared.http import add_common_routes
from tests.security.probe import tried

TOKEN = secrets.token_urlsafe(32)


def _metrics_app(monkeypatch: pytest.MonkeyPatch, environment: str, **env: str) -> TestClient:
    monkeypatch.setenv("ENVIRONMENT", environment)
    for name in ("METRICS_TOKEN", "METRICS_OPEN"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    app = FastAPI()
    add_common_routes(app, lambda: True)
    return TestClient(app)


@pytest.mark.parametrize(
    ("environment", "env", "headers", "status"),
    [
        ("production", {"METRICS_TOKEN": TOKEN}, {}, 401),
        ("production", {"METRICS_TOKEN": TOKEN}, {"authorization": "Bearer wrong-token"}, 401),
        ("production", {"METRICS_TOKEN": TOKEN}, {"authorization": f"Basic {TOKEN}"}, 401),
        ("production", {"METRICS_TOKEN": TOKEN}, {"authorization": f"Bearer {TOKEN}"}, 200),
        ("production", {"METRICS_OPEN": "true"}, {}, 401),  # open is never honoured in production
        ("test", {}, {}, 401),  # nothing set: closed, even in a test run
        ("local", {"METRICS_OPEN": "true"}, {}, 200),
        ("test", {"METRICS_OPEN": "true", "METRICS_TOKEN": TOKEN}, {}, 401),  # a token, once set, is required
    ],
)
def test_metrics_need_the_bearer_token_unless_explicitly_open_outside_production(
    monkeypatch: pytest.MonkeyPatch, environment: str, env: dict[str, str], headers: dict[str, str], status: int
) -> None:
    client = _metrics_app(monkeypatch, environment, **env)
    response = client.get("/metrics", headers=headers)
    shown = {k: ("<token>" if v == TOKEN else v) for k, v in env.items()}
    tried(f"GET /metrics, ENVIRONMENT={environment} {shown}, headers {list(headers)}", response.status_code)
    assert response.status_code == status
    if status == 200:
        assert "# HELP" in response.text
    else:
        assert response.headers["www-authenticate"] == 'Bearer realm="metrics"'
        assert "# HELP" not in response.text
