"""Who may post and read reports: OAuth 2.0 client credentials, JWT access tokens checked against the issuer's keys.

The Careline's system (and any other agency system) gets a token from the identity provider with the client
credentials grant and sends it as `Authorization: Bearer <JWT>`. Intake checks the signature against the
issuer's JWKS (found through its discovery document, refetched at most once a minute when a token names an
unknown key), the issuer, the audience, the expiry, and the scope: `reports:write` to post,
`reports:read` to read. The client's identity (`client_id`, else `azp`, else `sub`) is what the audit trail
and the rate limit see. `INTAKE_AUTH=mtls` uses client certificates instead (services/intake/mtls.py: the
certificate's identity takes the client id's place). `INTAKE_AUTH=none` switches authentication off, and only a
local or test run may do so.
"""

from dataclasses import dataclass
from typing import Any

import httpx
import structlog
from fastapi import Request
from fastapi.responses import JSONResponse

from services.intake.mtls import server_tls_options, tls_identity
from services.intake.settings import READ_SCOPE, WRITE_SCOPE, IntakeSettings
from shared.settings import ConfigurationRefused, Environment
from shared.tokens import JwksFetcher, JwtVerifier, KeysUnavailable, TokenInvalid

log = structlog.get_logger(__name__)

OAUTH_ADVICE = "get a token with the client credentials grant and send it as 'Authorization: Bearer <token>'"
MTLS_ADVICE = "connect with a client certificate issued by the CA intake trusts (INTAKE_TLS_CLIENT_CA_FILE)"
# A certificate from the configured CA is the agency system's whole credential: it may post and read.
CERTIFICATE_SCOPES = frozenset({WRITE_SCOPE, READ_SCOPE})

__all__ = ["AuthRefused", "Client", "IntakeAuth", "JwksFetcher", "TokenVerifier", "auth_problems", "discovery_fetcher"]


@dataclass(frozen=True)
class Client:
    """An authenticated caller (or, with auth off, the peer address)."""

    client_id: str
    scopes: frozenset[str]
    authenticated: bool


class AuthRefused(Exception):
    def __init__(
        self, status: int, error: str, description: str, scope: str | None = None, what_to_do: str = OAUTH_ADVICE
    ) -> None:
        super().__init__(description)
        self.status = status
        self.error = error
        self.description = description
        self.scope = scope
        self.what_to_do = what_to_do

    def response(self) -> JSONResponse:
        challenge = f'Bearer realm="careline-intake", error="{self.error}"'
        if self.scope:
            challenge += f', scope="{self.scope}"'
        return JSONResponse(
            {"error": self.description, "what_to_do": self.what_to_do},
            status_code=self.status,
            headers={"WWW-Authenticate": challenge},
        )


def scopes_of(claims: dict[str, Any]) -> frozenset[str]:
    raw = claims.get("scope", claims.get("scp", ""))
    if isinstance(raw, str):
        return frozenset(raw.split())
    if isinstance(raw, list):
        return frozenset(str(s) for s in raw)
    return frozenset()


class TokenVerifier:
    """shared/tokens.py's check, answered as OAuth does: 401 invalid_token, 503 when the keys are unreachable."""

    def __init__(self, issuer: str, audience: str, fetch_jwks: JwksFetcher, *, leeway: int = 30) -> None:
        self._jwt = JwtVerifier(issuer, audience, fetch_jwks, leeway=leeway)

    async def client(self, token: str) -> Client:
        try:
            claims = await self._jwt.claims(token)
        except TokenInvalid as exc:
            log.info("intake_token_refused", error_type=exc.error_type)
            raise AuthRefused(401, "invalid_token", "access token not valid for this API") from None
        except KeysUnavailable as exc:
            log.warning("intake_token_keys_unavailable", error_type=exc.error_type)
            raise AuthRefused(503, "temporarily_unavailable", "the token issuer's keys are unreachable") from None
        identity = claims.get("client_id") or claims.get("azp") or claims.get("sub")
        if not isinstance(identity, str) or not identity:
            raise AuthRefused(401, "invalid_token", "access token names no client")
        return Client(identity[:200], scopes_of(claims), authenticated=True)


def discovery_fetcher(issuer: str, jwks_url: str | None) -> JwksFetcher:
    """JWKS from `jwks_url`, else from the discovery document, refused unless it names exactly this issuer."""
    cached: dict[str, str] = {}

    async def fetch(_: bool) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=10, trust_env=False, follow_redirects=False) as http:
            url = jwks_url or cached.get("jwks_uri")
            if url is None:
                metadata = (await http.get(f"{issuer.rstrip('/')}/.well-known/openid-configuration")).json()
                if metadata.get("issuer") != issuer:
                    raise RuntimeError("discovery document names another issuer")
                url = cached["jwks_uri"] = str(metadata["jwks_uri"])
            response = await http.get(url)
            response.raise_for_status()
            keys: dict[str, Any] = response.json()
            return keys

    return fetch


class IntakeAuth:
    """`await auth.require(request, scope)` returns the Client or raises AuthRefused (401/403)."""

    def __init__(self, settings: IntakeSettings, environment: Environment, fetch_jwks: JwksFetcher | None = None):
        self.enabled = settings.auth != "none"
        self.mutual_tls = settings.auth == "mtls"
        self._verifier: TokenVerifier | None = None
        if not self.enabled:
            if environment == "production":
                raise ConfigurationRefused("INTAKE_AUTH=none is allowed only with ENVIRONMENT=local or test")
            return
        if self.mutual_tls:
            server_tls_options(settings)  # refuses (naming the setting) without the CA, certificate or key
            return
        if not settings.auth_issuer:
            raise ConfigurationRefused(
                "INTAKE_AUTH_ISSUER is required (the OAuth issuer whose client-credentials tokens intake accepts); "
                "only a local or test run may set INTAKE_AUTH=none instead"
            )
        if environment == "production" and not settings.auth_issuer.startswith("https://"):
            raise ConfigurationRefused("INTAKE_AUTH_ISSUER must be an https URL in production")
        self._verifier = TokenVerifier(
            settings.auth_issuer,
            settings.auth_audience,
            fetch_jwks or discovery_fetcher(settings.auth_issuer, settings.auth_jwks_url),
        )

    async def require(self, request: Request, scope: str) -> Client:
        if self.mutual_tls:
            return self._certificate_client(request)
        if self._verifier is None:
            peer = request.client.host if request.client else "unknown"
            return Client(f"unauthenticated:{peer}", frozenset(), authenticated=False)
        header = request.headers.get("authorization", "")
        kind, _, token = header.partition(" ")
        if kind.lower() != "bearer" or not token.strip():
            raise AuthRefused(401, "invalid_request", "a Bearer access token is required")
        client = await self._verifier.client(token.strip())
        if scope not in client.scopes:
            log.info("intake_scope_refused", client_id=client.client_id, scope=scope)
            raise AuthRefused(403, "insufficient_scope", f"the token lacks the scope {scope}", scope=scope)
        return client

    def _certificate_client(self, request: Request) -> Client:
        """uvicorn has verified the chain in the handshake; a request without a verified identity (another
        server in front, a certificate naming nobody) is refused all the same."""
        identity = tls_identity(dict(request.scope))
        if identity is None:
            raise AuthRefused(401, "invalid_client", "a client certificate from the Careline CA is required",
                              what_to_do=MTLS_ADVICE)  # fmt: skip
        return Client(identity, CERTIFICATE_SCOPES, authenticated=True)


def auth_problems(settings: IntakeSettings, environment: Environment) -> list[str]:
    """What IntakeAuth would refuse, as a list for the startup checks (each naming its setting)."""
    try:
        IntakeAuth(settings, environment, fetch_jwks=_never_fetch)
    except ConfigurationRefused as refused:
        return [str(refused)]
    return []


async def _never_fetch(_: bool) -> dict[str, Any]:
    raise RuntimeError("startup checks fetch no keys")
