"""Is this unsafe request (POST, PUT, PATCH, DELETE) from our own pages? (CSRF defence in depth.)

Browsers say where a request comes from: `Sec-Fetch-Site` (same-origin, same-site, cross-site, none) and
`Origin`. A request that declares another origin is refused, whatever authenticates it: Basic credentials
and cookies are both sent by the browser on a cross-site form post. Clients that are not browsers (scripts,
agencies' systems) send neither header and are judged by their credentials alone.
"""

from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
_ALLOWED_FETCH_SITES = frozenset({"same-origin", "none"})


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def cross_site_problem(headers: Mapping[str, str], own_origins: Iterable[str]) -> str | None:
    """Why this request looks cross-site, or None. `own_origins`: scheme://host[:port] this service serves."""
    fetch_site = headers.get("sec-fetch-site")
    if fetch_site is not None and fetch_site.lower() not in _ALLOWED_FETCH_SITES:
        return f"cross-site request refused (Sec-Fetch-Site: {fetch_site})"
    origin = headers.get("origin")
    if origin is not None and origin.lower().rstrip("/") not in {o.lower().rstrip("/") for o in own_origins}:
        return "cross-site request refused (Origin is not this service)"
    return None
