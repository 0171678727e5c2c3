"""Ops: a cross-site unsafe request is refused whatever authenticates it (Basic included); security headers."""

import base64
import re

from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.ops.app import create_app
from services.ops.passwords import hash_password
from services.ops.settings import OpsSettings
from tests.security.probe import tried

BASIC = "Basic " + base64.b64encode(b"ops:correct horse").decode()
client = TestClient(create_app(OpsSettings(password_hash=SecretStr(hash_password("correct horse")))))  # no lifespan


def test_basic_authenticated_post_from_another_origin_is_refused() -> None:
    for headers in (
        {"origin": "https://evil.example"},
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site", "origin": "https://ops.evil.example"},
        {"origin": "null"},
    ):
        response = client.post("/api/endpoints/pd-hartford/enable", headers={"authorization": BASIC, **headers})
        tried(
            f"POST /api/endpoints/pd-hartford/enable with valid Basic credentials and {headers}", response.status_code
        )
        assert response.status_code == 403 and "cross-site request refused" in response.json()["error"]


def test_same_origin_and_non_browser_requests_reach_authentication() -> None:
    wrong = "Basic " + base64.b64encode(b"ops:wrong").decode()
    same = client.post(
        "/api/endpoints/pd-x/enable",
        headers={"authorization": wrong, "origin": "http://testserver", "sec-fetch-site": "same-origin"},
    )
    script = client.post("/api/endpoints/pd-x/enable", headers={"authorization": wrong})
    tried("POST with wrong credentials, same origin / no browser headers", (same.status_code, script.status_code))
    assert same.status_code == script.status_code == 401  # past the origin check, refused by authentication


def test_every_response_carries_the_security_headers() -> None:
    for path in ("/", "/reports/CL-HDR-0001", "/static/dashboard.js", "/api/summary"):
        response = client.get(path, headers={"authorization": BASIC}) if path != "/api/summary" else client.get(path)
        csp = response.headers["content-security-policy"]
        tried(f"GET {path}", {k: v for k, v in response.headers.items() if k.startswith(("content-sec", "x-", "ref"))})
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "'unsafe-inline'" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert response.headers["x-content-type-options"] == "nosniff"


def test_no_inline_script_is_admitted() -> None:
    """The report page now loads only its own files (ops-page moved the id out of an inline script)."""
    page = client.get("/reports/CL-HDR-0002", headers={"authorization": BASIC})
    inline = re.findall(r"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", page.text, re.DOTALL)
    assert inline == [] and "'sha256-" not in page.headers["content-security-policy"]
