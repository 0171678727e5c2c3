"""Ops login against a real OpenID Connect provider (navikt's mock-oauth2-server, run from Maven Central jars):
the browser code flow with PKCE ends in a session cookie that opens the dashboard and its API, Bearer tokens
from the provider's token endpoint are checked against its keys, and an ops action records the OIDC user.

The ops app runs in-process (httpx's ASGI transport for ops.test, real HTTP to the provider); it needs no Kafka
(its lag sampler points at a closed port) and uses a migrated SQLite database.
"""

import base64
import json
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from devtools.infra.oidc_runtime import OidcProviderHandle, provide_oidc_provider
from devtools.infra.ports import MissingPrerequisite, free_port
from services.ops.app import create_app
from services.ops.oidc import SESSION_COOKIE
from services.ops.passwords import hash_password
from services.ops.settings import OpsSettings
from shared.settings import KafkaSettings
from shared.store.engine import make_engine
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord
from tests.conftest import unavailable

pytestmark = pytest.mark.integration

OPS = "http://ops.test"
CLIENT_ID = "careline-ops"
ALICE = {"sub": "alice-sub-1", "preferred_username": "alice", "email": "alice@example.org", "email_verified": True}
# The provider's own config format: no login form, fixed claims. Access tokens are for this client unless a
# client asks for scope other-api; client-credentials tokens name the calling client as their subject.
PROVIDER_CONFIG = {
    "interactiveLogin": False,
    "tokenCallbacks": [
        {
            "issuerId": "default",
            "tokenExpiry": 300,
            "requestMappings": [
                {"requestParam": "scope", "match": "other-api", "claims": {"sub": "${clientId}", "aud": ["other-api"]}},
                {
                    "requestParam": "grant_type",
                    "match": "client_credentials",
                    "claims": {"sub": "${clientId}", "aud": [CLIENT_ID]},
                },
                {"requestParam": "grant_type", "match": "*", "claims": {**ALICE, "aud": [CLIENT_ID]}},
            ],
        }
    ],
}

OpsClient = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProviderHandle]:
    try:
        handle = provide_oidc_provider(tmp_path_factory.mktemp("oidc"), json_config=PROVIDER_CONFIG)
    except MissingPrerequisite as exc:
        unavailable(f"no OIDC provider: {exc}")
    print(
        f"\nmock-oauth2-server {handle.version}: jars in {handle.resolve_seconds:.1f}s, "
        f"ready in {handle.startup_seconds:.1f}s"
    )
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path_factory.mktemp('ops-oidc') / 'ops.db'}"
    upgrade(url)
    return url


@pytest.fixture
def ops_client(provider: OidcProviderHandle, database_url: str, monkeypatch: pytest.MonkeyPatch) -> OpsClient:
    """Builds the ops app for the provider (overrides go to OpsSettings) and a client that follows redirects
    between ops.test (in-process) and the provider (real HTTP), keeping cookies like a browser."""
    monkeypatch.setenv("DATABASE_URL", database_url)

    @asynccontextmanager
    async def client(**overrides: Any) -> AsyncIterator[httpx.AsyncClient]:
        configured: dict[str, Any] = {
            "password_hash": SecretStr(hash_password("s3cret")),
            "oidc_issuer": provider.issuer(),
            "oidc_client_id": CLIENT_ID,
            "oidc_client_secret": SecretStr("ops-client-secret"),
        }
        settings = OpsSettings(**{**configured, **overrides})
        app = create_app(settings, KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_port()}"))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                base_url=OPS, mounts={OPS: transport}, follow_redirects=True, timeout=30, trust_env=False
            ) as http:
                yield http

    return client


async def _sign_in(ops: httpx.AsyncClient, next_path: str = "/api/summary") -> httpx.Response:
    return await ops.get("/auth/login", params={"next": next_path})


async def _provider_token(provider: OidcProviderHandle, client_id: str, scope: str, issuer_id: str = "default") -> str:
    async with httpx.AsyncClient(timeout=30, trust_env=False) as http:
        response = await http.post(
            f"{provider.issuer(issuer_id)}/token",
            data={"grant_type": "client_credentials", "scope": scope},
            auth=(client_id, "any-secret"),
        )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def test_browser_code_flow_opens_the_dashboard_and_its_api_and_logout_closes_them(ops_client: OpsClient) -> None:
    async with ops_client() as ops:
        refused = await ops.get("/api/summary")
        assert refused.status_code == 401 and refused.json()["login"] == "/auth/login"

        landed = await _sign_in(ops)
        assert landed.status_code == 200, landed.text
        assert landed.url.path == "/api/summary" and "notifications" in landed.json()
        authorize = landed.history[0].headers["location"]
        query = parse_qs(urlsplit(authorize).query)
        assert query["code_challenge_method"] == ["S256"] and query["code_challenge"] and query["nonce"]
        assert query["redirect_uri"] == [f"{OPS}/auth/callback"] and query["scope"] == ["openid profile email"]
        assert [r.url.path for r in landed.history] == ["/auth/login", "/default/authorize", "/auth/callback"]

        cookie = ops.cookies[SESSION_COOKIE]
        session = json.loads(base64.b64decode(cookie.split(".")[0] + "=="))
        # The user, the login time and the last use (for the idle timeout): no token, no login state.
        assert session.keys() == {"user", "since", "seen"} and session["user"] == "oidc:alice"
        assert isinstance(session["since"], int | float) and isinstance(session["seen"], int | float)
        assert "Careline DMST pipeline" in (await ops.get("/")).text

        assert (await ops.get("/auth/logout")).status_code == 200
        assert (await ops.get("/api/summary")).status_code == 401

    async with ops_client() as stranger:
        stranger.cookies.set(SESSION_COOKIE, cookie, domain="ops.test")
        assert (await stranger.get("/api/summary")).status_code == 401  # another process's signing secret


async def test_bearer_tokens_from_the_provider_are_checked_against_its_keys(
    ops_client: OpsClient, provider: OidcProviderHandle
) -> None:
    good = await _provider_token(provider, "careline-automation", "ops")
    other_audience = await _provider_token(provider, "careline-automation", "other-api")
    assert _claims(good)["aud"] == CLIENT_ID and _claims(other_audience)["aud"] == "other-api"
    other_issuer = await _provider_token(provider, "careline-automation", "ops", issuer_id="another-issuer")
    header, payload, signature = good.split(".")
    forged = json.dumps({**_claims(good), "sub": "someone-else"}).encode()
    tampered_payload = base64.urlsafe_b64encode(forged).rstrip(b"=")
    async with ops_client() as ops:
        answer = await ops.get("/api/summary", headers={"authorization": f"Bearer {good}"})
        assert answer.status_code == 200, answer.text
        for bad in (
            f"{header}.{payload}.{signature[:-6]}AAAAAA",
            f"{header}.{tampered_payload.decode()}.{signature}",
            other_audience,
            other_issuer,
        ):
            refused = await ops.get("/api/summary", headers={"authorization": f"Bearer {bad}"})
            assert refused.status_code == 401, _claims(bad)
            assert refused.headers["www-authenticate"].startswith("Basic")


async def test_ops_actions_record_the_oidc_user_and_refuse_a_cross_site_post(
    ops_client: OpsClient, provider: OidcProviderHandle, database_url: str
) -> None:
    browser_agency, api_agency = "oidc-test-agency-browser", "oidc-test-agency-api"
    async with ops_client() as ops:
        assert (await _sign_in(ops, "/")).status_code == 200
        cross_site = await ops.post(f"/api/endpoints/{browser_agency}/enable", headers={"origin": "http://evil.test"})
        assert cross_site.status_code == 403  # the Origin check (services/ops/security.py), whatever the auth
        own_page = await ops.post(f"/api/endpoints/{browser_agency}/enable", headers={"origin": OPS})
        assert own_page.status_code == 200, own_page.text
        token = await _provider_token(provider, "careline-automation", "ops")
        by_api = await ops.post(f"/api/endpoints/{api_agency}/enable", headers={"authorization": f"Bearer {token}"})
        assert by_api.status_code == 200
    engine = make_engine(database_url, pre_ping=True)
    try:
        async with engine.connect() as conn:
            rows = (
                await conn.execute(
                    select(AuditEventRecord.agency_id, AuditEventRecord.event, AuditEventRecord.actor)
                    .where(AuditEventRecord.agency_id.in_([browser_agency, api_agency]))
                    .order_by(AuditEventRecord.agency_id)
                )
            ).all()
    finally:
        await engine.dispose()
    assert [tuple(r) for r in rows] == [
        (api_agency, "ops_endpoint_enabled", "ops:oidc:careline-automation"),
        (browser_agency, "ops_endpoint_enabled", "ops:oidc:alice"),
    ]


async def test_a_user_outside_the_allowed_list_is_refused_but_basic_still_works(ops_client: OpsClient) -> None:
    async with ops_client(oidc_allowed_users=["bob", "s-2"]) as ops:
        refused = await _sign_in(ops)
        assert refused.status_code == 403 and refused.url.path == "/auth/callback"
        assert SESSION_COOKIE not in ops.cookies or "user" not in ops.cookies[SESSION_COOKIE]
        assert (await ops.get("/api/summary")).status_code == 401
        assert (await ops.get("/api/summary", auth=("ops", "s3cret"))).status_code == 200
    async with ops_client(oidc_allowed_users=["alice@example.org"]) as ops:
        assert (await _sign_in(ops)).status_code == 200  # the provider says the email is verified


async def test_a_provider_naming_another_issuer_is_not_trusted(
    ops_client: OpsClient, provider: OidcProviderHandle
) -> None:
    token = await _provider_token(provider, "careline-automation", "ops")
    async with ops_client(oidc_issuer=f"{provider.issuer()}/") as ops:  # discovery says ".../default", not ".../"
        assert (await _sign_in(ops)).status_code == 503
        assert (await ops.get("/api/summary", headers={"authorization": f"Bearer {token}"})).status_code == 401
