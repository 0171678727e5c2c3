"""OIDC pieces of the ops service that need no provider: Bearer checks against a locally made key, who may
enter, settings, where the 401 points, and that a Basic-only ops is exactly what it was."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwt
from joserfc.jwk import KeySet, OctKey, RSAKey
from pydantic import SecretStr, ValidationError
from starlette.requests import Request

from services.ops.app import create_app
from services.ops.oidc import BearerVerifier, OidcUsers, is_allowed, local_path, user_name
from services.ops.passwords import hash_password
from services.ops.settings import OpsSettings
from shared.settings import KafkaSettings

ISSUER = "https://idp.example.org/realms/careline"
CLIENT = "careline-ops"
CLOSED = "http://127.0.0.1:9/idp"  # discard port: nothing answers, so a provider call fails at once


def _key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid})


def _token(key: RSAKey, **overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT, "sub": "s-1", "exp": now + 300, "iat": now, **overrides}
    return jwt.encode({"alg": "RS256", "kid": key.kid}, {k: v for k, v in claims.items() if v is not None}, key)


class _Jwks:
    """Stands in for the provider's jwks_uri: serves whichever public keys the test says, counts fetches."""

    def __init__(self, *keys: RSAKey) -> None:
        self.keys = list(keys)
        self.fetches = 0

    async def __call__(self, force: bool) -> dict[str, Any]:
        self.fetches += 1
        return dict(KeySet(list(self.keys)).as_dict(private=False))


def _claims(verifier: BearerVerifier, token: str) -> dict[str, Any] | None:
    return asyncio.run(verifier.claims(token))


def test_bearer_accepts_only_the_issuers_signature_for_this_client_before_expiry() -> None:
    key = _key("k1")
    verifier = BearerVerifier(ISSUER, CLIENT, _Jwks(key))
    accepted = _claims(verifier, _token(key, preferred_username="alice"))
    assert accepted is not None and accepted["preferred_username"] == "alice"
    assert _claims(verifier, _token(key, aud=["other", CLIENT])) is not None  # a list naming this client is fine

    assert _claims(verifier, _token(key, aud="another-api")) is None
    assert _claims(verifier, _token(key, aud=None)) is None
    assert _claims(verifier, _token(key, iss="https://evil.example.org")) is None
    assert _claims(verifier, _token(key, exp=int(time.time()) - 3600)) is None
    assert _claims(verifier, _token(key, sub=None)) is None
    header, payload, signature = _token(key).split(".")
    assert _claims(verifier, f"{header}.{payload}.{signature[:-4]}AAAA") is None  # tampered signature
    assert _claims(verifier, _token(_key("k1"))) is None  # same key id, another key: not the issuer's signature
    shared = OctKey.generate_key(256)
    hs256 = jwt.encode({"alg": "HS256"}, {"iss": ISSUER, "aud": CLIENT, "sub": "s", "exp": 9999999999}, shared)
    assert _claims(verifier, hs256) is None
    assert _claims(verifier, "not-a-jwt") is None


def test_bearer_follows_a_key_rotation_but_does_not_refetch_on_every_unknown_key() -> None:
    old, new = _key("old"), _key("new")
    jwks = _Jwks(old)
    verifier = BearerVerifier(ISSUER, CLIENT, jwks)
    assert _claims(verifier, _token(old)) is not None and jwks.fetches == 1
    jwks.keys = [new]  # the provider rotated
    assert _claims(verifier, _token(new)) is not None and jwks.fetches == 2
    assert _claims(verifier, _token(_key("random-kid"))) is None
    assert jwks.fetches == 2  # refetched at most once a minute, so junk key ids cannot hammer the provider


def test_allowed_users_match_sub_username_or_a_verified_email_only() -> None:
    claims = {"sub": "s-1", "preferred_username": "alice", "email": "alice@example.org", "email_verified": True}
    assert is_allowed(claims, [])  # no list: the provider alone decides
    assert is_allowed(claims, ["s-1"]) and is_allowed(claims, ["alice"]) and is_allowed(claims, ["alice@example.org"])
    assert not is_allowed(claims, ["bob", "s-2"])
    assert not is_allowed({**claims, "email_verified": False}, ["alice@example.org"])
    assert not is_allowed({"sub": "s-1", "email": "alice@example.org"}, ["alice@example.org"])


def test_user_name_prefers_username_then_email_then_subject() -> None:
    assert user_name({"sub": "s", "email": "e@x", "preferred_username": "alice"}) == "oidc:alice"
    assert user_name({"sub": "s", "email": "e@x"}) == "oidc:e@x"
    assert user_name({"sub": "s"}) == "oidc:s"
    with pytest.raises(ValueError):
        user_name({"preferred_username": ""})


def test_after_login_only_a_path_on_this_site() -> None:
    assert local_path("/reports/CL-1") == "/reports/CL-1"
    for target in (None, "", "//evil.example.org/x", "/\\evil.example.org", "https://evil.example.org", "x"):
        assert local_path(target) == "/"


def test_settings_default_to_oidc_off_and_check_what_is_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ISSUER", "ALLOWED_USERS", "SCOPES", "PUBLIC_URL"):
        monkeypatch.delenv(f"OPS_OIDC_{name}", raising=False)
    defaults = OpsSettings()
    assert not defaults.oidc_enabled and defaults.oidc_allowed_users == [] and defaults.session_secret is None
    assert defaults.oidc_scopes == "openid profile email"

    monkeypatch.setenv("OPS_OIDC_ISSUER", ISSUER)
    monkeypatch.setenv("OPS_OIDC_ALLOWED_USERS", " alice, s-2 ,")
    configured = OpsSettings()
    assert configured.oidc_enabled and configured.oidc_allowed_users == ["alice", "s-2"]
    monkeypatch.setenv("OPS_OIDC_ALLOWED_USERS", '["alice@example.org"]')
    assert OpsSettings().oidc_allowed_users == ["alice@example.org"]

    with pytest.raises(ValidationError):
        OpsSettings(oidc_scopes="profile email")
    with pytest.raises(ValidationError):
        OpsSettings(oidc_issuer="idp.example.org")


def _app(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **oidc: Any) -> FastAPI:
    monkeypatch.setenv("DATABASE_URL", f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}")
    settings = OpsSettings(password_hash=SecretStr(hash_password("s3cret")), **oidc)
    return create_app(settings, KafkaSettings(bootstrap_servers="127.0.0.1:9"))  # no lifespan in TestClient


def test_basic_only_ops_has_no_login_routes_and_the_same_401(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPS_OIDC_ISSUER", raising=False)
    client = TestClient(_app(tmp_path, monkeypatch))
    refused = client.get("/api/summary", headers={"accept": "text/html"})
    assert refused.status_code == 401 and refused.json() == {"detail": "authentication required"}
    assert refused.headers["www-authenticate"] == 'Basic realm="Careline ops"'
    assert client.get("/auth/login", follow_redirects=False).status_code == 404
    assert client.get("/", auth=("ops", "s3cret")).status_code == 200
    assert client.get("/", headers={"authorization": "Bearer x.y.z"}).status_code == 401
    assert "set-cookie" not in client.get("/", auth=("ops", "s3cret")).headers  # no session without OIDC


def test_with_oidc_the_401_points_to_the_login_and_basic_still_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = TestClient(_app(tmp_path, monkeypatch, oidc_issuer=CLOSED))
    as_json = client.get("/api/summary")
    assert as_json.status_code == 401
    assert as_json.json() == {"detail": "authentication required", "login": "/auth/login"}
    assert as_json.headers["www-authenticate"].startswith("Basic")
    as_html = client.get("/reports/CL-1", headers={"accept": "text/html,application/xhtml+xml"})
    assert as_html.status_code == 401 and as_html.headers["www-authenticate"].startswith("Basic")
    assert 'href="/auth/login?next=/reports/CL-1"' in as_html.text
    assert client.get("/", auth=("ops", "s3cret")).status_code == 200
    assert client.get("/", headers={"authorization": "Bearer x.y.z"}).status_code == 401  # keys unreachable: no
    unavailable = client.get("/auth/login", follow_redirects=False)
    assert unavailable.status_code == 503 and "could not be used" in unavailable.text
    assert client.get("/auth/callback?code=c&state=forged").status_code == 401  # no login under way: refused


def _request(session: dict[str, Any], method: str = "GET", origin: str | None = None) -> Request:
    headers = [(b"host", b"ops.example.org")] + ([(b"origin", origin.encode())] if origin else [])
    scope: dict[str, Any] = {"type": "http", "method": method, "path": "/", "headers": headers, "query_string": b""}
    scope.update(scheme="https", server=("ops.example.org", 443), session=session)
    return Request(scope)


def test_a_session_counts_for_its_lifetime_and_for_changes_only_from_this_sites_pages() -> None:
    users = OidcUsers(OpsSettings(oidc_issuer=CLOSED, oidc_public_url="https://ops.example.org"))
    signed_in = {"user": "oidc:alice", "since": int(time.time())}
    assert asyncio.run(users.user(_request(signed_in))) == "oidc:alice"
    expired = {"user": "oidc:alice", "since": int(time.time()) - 8 * 3600 - 1}
    assert asyncio.run(users.user(_request(expired))) is None  # however often the page polled
    assert asyncio.run(users.user(_request(signed_in, "POST", "https://ops.example.org"))) == "oidc:alice"
    assert asyncio.run(users.user(_request(signed_in, "POST", "https://evil.example.org"))) is None
    assert asyncio.run(users.user(_request({}))) is None
