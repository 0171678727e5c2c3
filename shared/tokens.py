"""The one check of a JWT access token against its issuer's published keys (JWKS), for every service that takes
`Authorization: Bearer <JWT>` (intake's OAuth clients, ops' API clients).

Checked: the signature (asymmetric algorithms only: a token must be provably the issuer's, never signed with a
shared secret), `iss`, `aud`, `exp` (with a leeway for clock skew) and, when asked, `sub`. The key set is
fetched on first use and refetched, at most once a minute, when a token names a key id it does not know, so a
provider's key rotation needs no restart and junk key ids cannot hammer the provider.
"""

import time
from collections.abc import Awaitable, Callable
from typing import Any

from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA")
REFETCH_INTERVAL_SECONDS = 60.0

JwksFetcher = Callable[[bool], Awaitable[dict[str, Any]]]
"""Returns the issuer's JWKS document; the flag says the cached copy named no such key (refetch)."""


class TokenInvalid(Exception):
    """Not a token of this issuer for this audience (bad signature, claim, expiry, or not a JWT at all)."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


class KeysUnavailable(Exception):
    """The issuer's keys could not be fetched or read: the token cannot be judged now (a 503, not a 401)."""

    def __init__(self, error_type: str) -> None:
        super().__init__(error_type)
        self.error_type = error_type


class JwtVerifier:
    def __init__(
        self,
        issuer: str,
        audience: str,
        fetch_jwks: JwksFetcher,
        *,
        leeway: int = 30,
        require_subject: bool = False,
    ) -> None:
        self._issuer = issuer
        self._audience = audience
        self._fetch = fetch_jwks
        self._leeway = leeway
        self._require_subject = require_subject
        self._keys: KeySet | None = None
        self._refetched_at = 0.0

    async def _key_set(self, force: bool) -> KeySet:
        if self._keys is None or force:
            try:
                self._keys = KeySet.import_key_set(await self._fetch(force))  # type: ignore[arg-type]
            except Exception as exc:  # whatever the fetcher or the document's parsing raised: keys unknown
                raise KeysUnavailable(type(exc).__name__) from exc
        return self._keys

    async def claims(self, token: str) -> dict[str, Any]:
        """The token's claims when it is valid; else TokenInvalid or KeysUnavailable (never the token itself)."""
        try:
            try:
                decoded = jwt.decode(token, await self._key_set(False), algorithms=list(ALGORITHMS))
            except InvalidKeyIdError:
                if time.monotonic() - self._refetched_at < REFETCH_INTERVAL_SECONDS:
                    raise
                self._refetched_at = time.monotonic()
                decoded = jwt.decode(token, await self._key_set(True), algorithms=list(ALGORITHMS))
            jwt.JWTClaimsRegistry(
                leeway=self._leeway,
                iss={"essential": True, "value": self._issuer},
                aud={"essential": True, "value": self._audience},
                exp={"essential": True},
                sub={"essential": self._require_subject},
            ).validate(decoded.claims)
        except (JoseError, ValueError) as exc:
            raise TokenInvalid(type(exc).__name__) from None
        return dict(decoded.claims)
