"""OpenID Connect for the ops service, on only when OPS_OIDC_ISSUER is set.

Browsers sign in with the authorization-code flow and PKCE (Authlib's Starlette client; it checks the ID token's
signature, issuer, audience, expiry and nonce). The signed session cookie then carries only the user's name,
never a token. API clients send `Authorization: Bearer <JWT>`, checked here against the issuer's JWKS (joserfc):
signature, `iss`, `aud` (the client id) and `exp`. Either way the user is `oidc:<preferred_username|email|sub>`,
which is what the audit trail records.
"""

import html
import logging
import secrets
import time
from collections.abc import Collection, Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import structlog
from authlib.integrations.base_client import OAuthError
from authlib.integrations.starlette_client import OAuth
from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from joserfc.errors import JoseError
from starlette.middleware.sessions import SessionMiddleware

from services.ops.auth import LoginRequired
from services.ops.settings import OpsSettings
from shared.settings import current_environment
from shared.tokens import JwksFetcher, JwtVerifier, KeysUnavailable, TokenInvalid

log = structlog.get_logger(__name__)

LOGIN_PATH = "/auth/login"
CALLBACK_PATH = "/auth/callback"
SESSION_COOKIE = "careline_ops_session"
_USER_KEY = "user"
_SINCE_KEY = "since"
_SEEN_KEY = "seen"  # last use: a session idle for OPS_SESSION_IDLE_MINUTES is refused
_NEXT_KEY = "next"
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def user_name(claims: Mapping[str, Any]) -> str:
    """The name ops shows and audits: `oidc:` + preferred_username, else email, else sub."""
    for key in ("preferred_username", "email", "sub"):
        value = claims.get(key)
        if isinstance(value, str) and value:
            return f"oidc:{value}"[:100]
    raise ValueError("the token names no user (no sub)")


def is_allowed(claims: Mapping[str, Any], allowed: Collection[str]) -> bool:
    """Empty list: anyone the provider signs in. Otherwise sub or preferred_username, or a verified email."""
    if not allowed:
        return True
    names = {claims.get("sub"), claims.get("preferred_username")}
    if claims.get("email_verified") is True:
        names.add(claims.get("email"))
    return any(isinstance(n, str) and n in allowed for n in names)


def local_path(target: str | None) -> str:
    """Where to go after login: a path on this site only (no open redirect to another host)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")) or len(target) > 500:
        return "/"
    return target


class BearerVerifier:
    """shared/tokens.py's check for an API client's JWT (`sub` required); None when refused (the reason is
    logged, never the token)."""

    def __init__(self, issuer: str, audience: str, fetch_jwks: JwksFetcher, *, leeway: int = 60) -> None:
        self._jwt = JwtVerifier(issuer, audience, fetch_jwks, leeway=leeway, require_subject=True)

    async def claims(self, token: str) -> dict[str, Any] | None:
        try:
            return await self._jwt.claims(token)
        except TokenInvalid as exc:
            log.info("ops_bearer_refused", error_type=exc.error_type)
        except KeysUnavailable as exc:
            log.warning("ops_bearer_keys_unavailable", error_type=exc.error_type)
        return None


def _page(title: str, text: str, status: int, link: str | None = None) -> HTMLResponse:
    anchor = f'<p><a href="{html.escape(link)}">Sign in</a></p>' if link else ""
    body = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1><p>{html.escape(text)}</p>{anchor}</body></html>"
    )
    return HTMLResponse(body, status_code=status, headers={"cache-control": "no-store"})


class OidcUsers:
    """The OIDC half of the Authenticator: a login session or a Bearer token, and the /auth routes."""

    login_path = LOGIN_PATH

    def __init__(self, settings: OpsSettings, oauth: OAuth | None = None) -> None:
        if settings.oidc_issuer is None:
            raise ValueError("OIDC needs OPS_OIDC_ISSUER")
        self._issuer = settings.oidc_issuer
        self._allowed = frozenset(settings.oidc_allowed_users)
        self._public_url = settings.oidc_public_url.rstrip("/") if settings.oidc_public_url else None
        self._max_age = settings.session_max_age_seconds
        self._idle_seconds = settings.session_idle_minutes * 60
        secret = settings.oidc_client_secret.get_secret_value() if settings.oidc_client_secret else None
        client_kwargs: dict[str, Any] = {"scope": settings.oidc_scopes, "code_challenge_method": "S256", "timeout": 10}
        if secret is None:
            client_kwargs["token_endpoint_auth_method"] = "none"  # noqa: S105 (a public client: PKCE is its proof)
        self._client: Any = (oauth or OAuth()).register(
            "careline_ops",
            client_id=settings.oidc_client_id,
            client_secret=secret,
            server_metadata_url=self._issuer.rstrip("/") + "/.well-known/openid-configuration",
            client_kwargs=client_kwargs,
        )
        self.bearer = BearerVerifier(self._issuer, settings.oidc_client_id, self._jwks)

    async def _metadata(self) -> dict[str, Any]:
        """The provider's discovery document, refused unless it names exactly the configured issuer."""
        metadata: dict[str, Any] = await self._client.load_server_metadata()
        if metadata.get("issuer") != self._issuer:
            raise OAuthError(error="issuer_mismatch", description="discovery names another issuer")
        return metadata

    async def _jwks(self, force: bool) -> dict[str, Any]:
        await self._metadata()
        keys: dict[str, Any] = await self._client.fetch_jwk_set(force=force)
        return keys

    def _origin_ok(self, request: Request) -> bool:
        """A state-changing request riding on the session cookie must come from this site's own pages."""
        origin = request.headers.get("origin")
        if request.method in _SAFE_METHODS or origin is None:
            return True
        own = urlsplit(self._public_url or str(request.base_url))
        return origin == f"{own.scheme}://{own.netloc}"

    async def user(self, request: Request) -> str | None:
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() == "bearer":  # an explicit token decides alone; no fallback to the cookie
            claims = await self.bearer.claims(token.strip()) if token.strip() else None
            if claims is None or not is_allowed(claims, self._allowed):
                return None
            return user_name(claims)
        if "session" not in request.scope:
            return None
        name, since = request.session.get(_USER_KEY), request.session.get(_SINCE_KEY)
        now = int(time.time())
        if not isinstance(name, str) or not isinstance(since, int) or now - since > self._max_age:
            return None  # the cookie is re-sent by every poll, so the login itself carries the time limit
        seen = request.session.get(_SEEN_KEY, since)
        if not isinstance(seen, int) or now - seen > self._idle_seconds:
            request.session.clear()  # idle too long: signed out, the cookie is emptied
            return None
        if not self._origin_ok(request):
            return None
        request.session[_SEEN_KEY] = now
        return name

    def _redirect_uri(self, request: Request) -> str:
        return f"{self._public_url}{CALLBACK_PATH}" if self._public_url else str(request.url_for("ops_oidc_callback"))

    async def login(self, request: Request) -> Response:
        request.session[_NEXT_KEY] = local_path(request.query_params.get("next"))
        try:
            await self._metadata()
            response: Response = await self._client.authorize_redirect(request, self._redirect_uri(request))
        except (httpx.HTTPError, OAuthError) as exc:
            log.warning("ops_oidc_provider_unusable", error_type=type(exc).__name__, error=getattr(exc, "error", None))
            return _page("Sign-in unavailable", "The identity provider could not be used; see the ops log.", 503)
        return response

    async def callback(self, request: Request) -> Response:
        try:
            await self._metadata()
            token: dict[str, Any] = await self._client.authorize_access_token(request)
            claims = token.get("userinfo")  # the ID token's claims, already validated by Authlib
            if not claims:
                raise OAuthError(error="missing_id_token")
            name = user_name(claims)
        except (OAuthError, JoseError, ValueError, httpx.HTTPError) as exc:
            log.warning("ops_oidc_login_failed", error_type=type(exc).__name__, error=getattr(exc, "error", None))
            return _page("Sign-in failed", "The sign-in could not be verified.", 401, LOGIN_PATH)
        if not is_allowed(claims, self._allowed):
            log.warning("ops_oidc_login_refused", reason="not in OPS_OIDC_ALLOWED_USERS")
            return _page("Not allowed", "This account may not use the ops dashboard.", 403)
        target = local_path(request.session.get(_NEXT_KEY))
        request.session.clear()  # nothing from before the login survives it (no fixation, no leftover state)
        now = int(time.time())
        request.session.update({_USER_KEY: name, _SINCE_KEY: now, _SEEN_KEY: now})
        log.info("ops_oidc_login", user=name)
        return RedirectResponse(target, status_code=303)

    async def logout(self, request: Request) -> Response:
        request.session.clear()
        return _page("Signed out", "You are signed out of the ops dashboard.", 200, LOGIN_PATH)

    async def login_required(self, request: Request, exc: Exception) -> Response:
        """The 401 for an OIDC-enabled ops: still the Basic challenge, plus where the OIDC login starts."""
        headers = dict(getattr(exc, "headers", None) or {})
        if "text/html" in request.headers.get("accept", ""):
            link = f"{LOGIN_PATH}?next={quote(local_path(request.url.path), safe='/')}"
            page = _page("Sign in", "The ops dashboard needs you to sign in.", 401, link)
            page.headers.update(headers)
            return page
        return JSONResponse({"detail": "authentication required", "login": LOGIN_PATH}, 401, headers=headers)


def install_oidc(app: FastAPI, settings: OpsSettings) -> OidcUsers | None:
    """Wire OIDC into the ops app when an issuer is configured: session cookie, /auth routes, the 401 page.
    Returns None (and touches nothing) when OIDC is off, so Basic-only ops behaves exactly as before."""
    if not settings.oidc_enabled:
        return None
    logging.getLogger("authlib").setLevel(logging.INFO)  # Authlib logs the PKCE verifier at DEBUG
    users = OidcUsers(settings)
    secret = settings.session_secret.get_secret_value() if settings.session_secret else secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_max_age_seconds,
        same_site="lax",
        # Secure whenever served behind https, and always in production (TLS ends at the ingress there).
        https_only=current_environment() == "production"
        or bool(settings.oidc_public_url and settings.oidc_public_url.startswith("https://")),
    )
    router = APIRouter(include_in_schema=False)
    router.add_api_route(LOGIN_PATH, users.login, methods=["GET"], name="ops_oidc_login")
    router.add_api_route(CALLBACK_PATH, users.callback, methods=["GET"], name="ops_oidc_callback")
    router.add_api_route("/auth/logout", users.logout, methods=["GET"], name="ops_oidc_logout")
    app.include_router(router)
    app.add_exception_handler(LoginRequired, users.login_required)
    return users
