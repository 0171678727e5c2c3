"""Browser-facing protections for the ops dashboard, whatever authenticates the request.

- Every unsafe method (POST, PUT, PATCH, DELETE) must come from the dashboard's own origin: a browser
  sends Basic credentials and cookies on a cross-site form post alike, so `Origin` / `Sec-Fetch-Site`
  naming another site is refused with 403 before authentication is even looked at (shared/origin.py).
  Clients that are not browsers send neither header and are judged by their credentials alone.
- Every response carries a Content-Security-Policy (own scripts, styles and fetches only; no framing:
  `frame-ancestors 'none'`), `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer`,
  `X-Content-Type-Options: nosniff`, and HSTS when the public URL is https.

`inline_script_hashes=True` admits the inline scripts of this app's own HTML responses by their SHA-256
(the report page passes its id in one); it is a bridge: once the page carries its data in a
`<script type="application/json">` block (not executed, not subject to script-src), drop the flag.
"""

import base64
import hashlib
import re
from collections.abc import Iterable

from starlette.datastructures import Headers, MutableHeaders
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.origin import SAFE_METHODS, cross_site_problem, origin_of

BASE_CSP = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "font-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)[^>]*>(.*?)</script>", re.DOTALL | re.IGNORECASE)


def csp_for(html: bytes | None, inline_script_hashes: bool) -> str:
    hashes = ""
    if html is not None and inline_script_hashes:
        digests = {base64.b64encode(hashlib.sha256(m).digest()).decode() for m in _INLINE_SCRIPT.findall(html)}
        hashes = "".join(f" 'sha256-{d}'" for d in sorted(digests))
    return BASE_CSP.format(hashes=hashes)


class BrowserSecurity:
    """Pure ASGI middleware (HTML bodies are buffered to hash their inline scripts; others stream through)."""

    def __init__(
        self,
        app: ASGIApp,
        public_urls: Iterable[str | None] = (),
        *,
        inline_script_hashes: bool = False,
    ) -> None:
        self.app = app
        self.public_origins = {origin_of(u) for u in public_urls if u}
        self.inline_script_hashes = inline_script_hashes
        self.hsts = any(o.startswith("https://") for o in self.public_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_headers = Headers(scope=scope)
        if scope["method"].upper() not in SAFE_METHODS:
            own = self.public_origins | {_own_origin(scope, request_headers)}
            problem = cross_site_problem(request_headers, own)
            if problem:
                refused = JSONResponse({"error": problem}, status_code=403)
                await self._respond(refused, scope, receive, send)
                return
        await self._respond(self.app, scope, receive, send)

    async def _respond(self, app: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        start: Message | None = None
        html_parts: list[bytes] = []

        async def send_with_headers(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                content_type = Headers(raw=message.get("headers", [])).get("content-type", "")
                if content_type.startswith("text/html") and self.inline_script_hashes:
                    start = message  # held until the body is complete: the CSP depends on it
                    return
                self._add_headers(message, None)
                await send(message)
                return
            if start is not None and message["type"] == "http.response.body":
                html_parts.append(message.get("body", b""))
                if message.get("more_body", False):
                    return
                body = b"".join(html_parts)
                self._add_headers(start, body)
                await send(start)
                await send({"type": "http.response.body", "body": body, "more_body": False})
                return
            await send(message)

        await app(scope, receive, send_with_headers)

    def _add_headers(self, start: Message, html: bytes | None) -> None:
        headers = MutableHeaders(scope=start)
        headers["Content-Security-Policy"] = csp_for(html, self.inline_script_hashes)
        headers["X-Frame-Options"] = "DENY"
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Content-Type-Options"] = "nosniff"
        if self.hsts:
            headers["Strict-Transport-Security"] = "max-age=31536000"


def _own_origin(scope: Scope, headers: Headers) -> str:
    host = headers.get("host", "")
    return f"{scope.get('scheme', 'http')}://{host}".lower()
