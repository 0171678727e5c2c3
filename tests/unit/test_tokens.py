"""shared/tokens.py: the one JWT access-token check intake and ops share."""

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from joserfc import jwt
from joserfc.jwk import KeySet, RSAKey

from shared.settings import REPO_ROOT
from shared.tokens import JwtVerifier, KeysUnavailable, TokenInvalid

ISSUER = "https://idp.example.org/realms/careline"
KEY = RSAKey.generate_key(2048, parameters={"kid": "k1"})


async def _jwks(_: bool) -> dict[str, Any]:
    return dict(KeySet([KEY]).as_dict(private=False))


async def _unreachable(_: bool) -> dict[str, Any]:
    raise ConnectionRefusedError(111, "refused")


def _token(**overrides: Any) -> str:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": "api", "exp": now + 300, "sub": "client-1", **overrides}
    return jwt.encode({"alg": "RS256", "kid": "k1"}, {k: v for k, v in claims.items() if v is not None}, KEY)


def test_valid_invalid_and_unjudgeable_tokens_are_told_apart() -> None:
    verifier = JwtVerifier(ISSUER, "api", _jwks)
    assert asyncio.run(verifier.claims(_token()))["sub"] == "client-1"
    with pytest.raises(TokenInvalid):
        asyncio.run(verifier.claims(_token(aud="other")))
    with pytest.raises(TokenInvalid):
        asyncio.run(JwtVerifier(ISSUER, "api", _jwks, require_subject=True).claims(_token(sub=None)))
    assert asyncio.run(verifier.claims(_token(sub=None)))["iss"] == ISSUER  # sub optional unless required
    with pytest.raises(KeysUnavailable) as unreachable:
        asyncio.run(JwtVerifier(ISSUER, "api", _unreachable).claims(_token()))
    assert unreachable.value.error_type == "ConnectionRefusedError"


def test_no_service_decodes_tokens_itself() -> None:
    """One check, one place: intake and ops both go through shared/tokens.py."""
    decoding = sorted(
        str(path.relative_to(REPO_ROOT))
        for root in ("services", "shared")
        for path in Path(REPO_ROOT, root).rglob("*.py")
        if "jwt.decode(" in path.read_text()
    )
    assert decoding == ["shared/tokens.py"]
    for user in ("services/intake/auth.py", "services/ops/oidc.py"):
        assert "from shared.tokens import" in Path(REPO_ROOT, user).read_text()
