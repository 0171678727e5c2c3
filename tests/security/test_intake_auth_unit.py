"""Intake's token checks without a provider (a local key pair), its fail-closed settings, docs in production."""

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from devtools.runner.samples import sample_report
from services.intake.app import create_app
from services.intake.auth import IntakeAuth
from services.intake.mtls import certificate_identity
from services.intake.settings import IntakeSettings
from shared.api_docs import hide_docs_in_production
from shared.settings import ConfigurationRefused
from tests.security.probe import tried

ISSUER = "https://idp.example.org/realms/careline"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})
OTHER_KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


async def _jwks(_: bool) -> dict[str, Any]:
    return KeySet([KEY]).as_dict(private=False)


def _token(key: RSAKey = KEY, **claims: Any) -> str:
    now = int(time.time())
    base = {"iss": ISSUER, "aud": "careline-intake", "exp": now + 300, "iat": now, "sub": "careline-system",
            "client_id": "careline-system", "scope": "reports:write"}  # fmt: skip
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {**base, **claims}, key)


client = TestClient(
    create_app(IntakeSettings(auth="oidc", auth_issuer=ISSUER, consume_inbound_topic=False), fetch_jwks=_jwks)
)


@pytest.mark.parametrize(
    ("what", "make_token", "status"),
    [
        ("no token", lambda: None, 401),
        ("expired", lambda: _token(exp=int(time.time()) - 600), 401),
        ("another issuer", lambda: _token(iss="https://evil.example"), 401),
        ("another audience", lambda: _token(aud="other-api"), 401),
        ("signed by another key", lambda: _token(OTHER_KEY), 401),
        ("alg none", lambda: "eyJhbGciOiJub25lIn0.eyJpc3MiOiJ4In0.", 401),
        ("read scope only", lambda: _token(scope="reports:read"), 403),
        ("write scope", lambda: _token(), 503),  # past authentication: no Kafka in this test, so not accepted
    ],
)
def test_tokens_are_checked_for_signature_issuer_audience_expiry_and_scope(
    what: str, make_token: Callable[[], str | None], status: int
) -> None:
    """Tokens are made when the test runs, not at import: the suite may run long after collection."""
    token = make_token()
    headers = {"authorization": f"Bearer {token}"} if token else {}
    response = client.post("/v1/reports", json=sample_report("CL-AUTH-0001", "Hartford"), headers=headers)
    tried(f"POST /v1/reports with {what}", f"{response.status_code} {response.headers.get('www-authenticate')}")
    assert response.status_code == status


def test_auth_off_only_in_local_or_test_and_an_issuer_is_required() -> None:
    with pytest.raises(ConfigurationRefused, match="INTAKE_AUTH=none is allowed only"):
        IntakeAuth(IntakeSettings(auth="none"), "production")
    with pytest.raises(ConfigurationRefused, match="INTAKE_AUTH_ISSUER is required"):
        IntakeAuth(IntakeSettings(auth="oidc", auth_issuer=None), "test")
    with pytest.raises(ConfigurationRefused, match="https URL in production"):
        IntakeAuth(IntakeSettings(auth="oidc", auth_issuer="http://idp.example.org"), "production")
    assert IntakeAuth(IntakeSettings(auth="none"), "test").enabled is False


def test_docs_and_openapi_are_off_in_production() -> None:
    app = FastAPI()
    hide_docs_in_production(app, "production")
    docs = TestClient(app)
    answers = {path: docs.get(path).status_code for path in ("/docs", "/openapi.json", "/redoc")}
    tried("GET /docs, /openapi.json, /redoc in production", answers)
    assert set(answers.values()) == {404}
    dev = FastAPI()
    hide_docs_in_production(dev, "test")
    assert TestClient(dev).get("/openapi.json").status_code == 200


def test_mutual_tls_identity_and_settings(tmp_path: Path) -> None:
    """The identity is the first DNS/URI subjectAltName, else the commonName; a request that did not come over
    verified mutual TLS is refused; a missing CA, certificate or key refuses to start, naming the setting."""
    assert certificate_identity({"subject": ((("commonName", "cn-name"),),), "subjectAltName": (("DNS", "a.gov"),)})
    assert certificate_identity({"subject": ((("commonName", "cn-name"),),)}) == "cn-name"
    assert certificate_identity(
        {"subject": ((("commonName", "x"),),), "subjectAltName": (("URI", "spiffe://c/s"),)}
    ) == ("spiffe://c/s")
    assert certificate_identity(None) is None
    pem = tmp_path / "x.pem"
    pem.write_text("-")
    full = {"auth": "mtls", "tls_certfile": pem, "tls_keyfile": pem, "tls_client_ca_file": pem}
    for missing, setting in (
        ("tls_client_ca_file", "INTAKE_TLS_CLIENT_CA_FILE"),
        ("tls_keyfile", "INTAKE_TLS_KEYFILE"),
    ):
        for environment in ("test", "production"):
            with pytest.raises(ConfigurationRefused, match=setting):
                IntakeAuth(IntakeSettings(**{**full, missing: None}), environment)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationRefused, match=r"INTAKE_TLS_CLIENT_CA_FILE=.*no such file"):
        absent = {**full, "tls_client_ca_file": tmp_path / "absent.pem"}
        IntakeAuth(IntakeSettings(**absent), "production")  # type: ignore[arg-type]
    app = create_app(IntakeSettings(consume_inbound_topic=False, **full))  # type: ignore[arg-type]
    response = TestClient(app).post("/v1/reports", json=sample_report("CL-AUTH-0002", "Hartford"))
    tried("POST /v1/reports to an mtls intake, request not over verified TLS", response.status_code)
    assert response.status_code == 401 and "client certificate" in response.json()["error"]
