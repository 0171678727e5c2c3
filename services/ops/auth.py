"""Who is asking: HTTP Basic against a configured argon2 hash, or, when a provider is configured, an OIDC login
session or Bearer token (services/ops/oidc.py). Every ops page and API needs one of them.

A successful Basic check is remembered (by a SHA-256 of the credentials, in memory) so that a page polling
every second does not pay argon2's deliberate cost on each request.
"""

import hashlib
import secrets
from typing import Protocol

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from services.ops.passwords import verify_password

_basic = HTTPBasic(auto_error=False, realm="Careline ops")
BASIC_CHALLENGE = 'Basic realm="Careline ops"'


class UserSource(Protocol):
    """What the Authenticator needs from the OIDC side (kept abstract so Basic-only ops never imports it)."""

    login_path: str

    async def user(self, request: Request) -> str | None:
        """The signed-in user's name from the session or a Bearer token, else None."""
        ...


class LoginRequired(HTTPException):
    """401 with the Basic challenge; `login_path` says where an OIDC login starts (None: no provider)."""

    def __init__(self, login_path: str | None = None) -> None:
        super().__init__(
            status_code=status.HTTP_401_UNAUTHORIZED,
            detail="authentication required",
            headers={"WWW-Authenticate": BASIC_CHALLENGE},
        )
        self.login_path = login_path


class Authenticator:
    def __init__(self, username: str, password_hash: str | None, oidc: UserSource | None = None) -> None:
        self._username = username
        self._hash = password_hash
        self._oidc = oidc
        self._verified: set[str] = set()

    def _check(self, credentials: HTTPBasicCredentials) -> bool:
        if not self._hash:
            return False  # no credentials configured: nobody gets in
        fingerprint = hashlib.sha256(f"{credentials.username}\0{credentials.password}".encode()).hexdigest()
        if fingerprint in self._verified:
            return True
        name_ok = secrets.compare_digest(credentials.username.encode(), self._username.encode())
        password_ok = verify_password(self._hash, credentials.password)
        if name_ok and password_ok:
            if len(self._verified) > 100:
                self._verified.clear()
            self._verified.add(fingerprint)
            return True
        return False

    async def __call__(self, request: Request) -> str:
        """FastAPI dependency: the authenticated user's name (Basic, OIDC session or Bearer), or 401."""
        credentials = await _basic(request)
        if credentials is not None and self._check(credentials):
            return credentials.username
        if self._oidc is not None:
            user = await self._oidc.user(request)
            if user is not None:
                return user
        raise LoginRequired(self._oidc.login_path if self._oidc is not None else None)
