"""HTTP Basic authentication against a configured argon2 hash; every ops page and API needs it.

A successful check is remembered (by a SHA-256 of the credentials, in memory) so that a page polling every
second does not pay argon2's deliberate cost on each request.
"""

import hashlib
import secrets

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPBasic, HTTPBasicCredentials

from services.ops.passwords import verify_password

_basic = HTTPBasic(auto_error=False, realm="Careline ops")


class Authenticator:
    def __init__(self, username: str, password_hash: str | None) -> None:
        self._username = username
        self._hash = password_hash
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
        """FastAPI dependency: the authenticated user's name, or 401 with a Basic challenge."""
        credentials = await _basic(request)
        if credentials is None or not self._check(credentials):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="authentication required",
                headers={"WWW-Authenticate": 'Basic realm="Careline ops"'},
            )
        return credentials.username
