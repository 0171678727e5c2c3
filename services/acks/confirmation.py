"""The one-click link's confirmation page: GET shows it, only its own POST acknowledges.

Mail scanners, link previews and forwarded mail open links; opening one must not acknowledge for the agency.
"""

import html

from starlette.requests import Request

from shared.acklinks import LinkClaim
from shared.origin import cross_site_problem as _cross_site
from shared.origin import origin_of

# The token is in the URL: never send it on as a Referer, never cache the page, never frame it.
LINK_PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'",
}


def confirmation_page(token: str, claim: LinkClaim) -> str:
    t = html.escape(token, quote=True)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="robots" content="noindex">
<title>Confirm acknowledgement</title>
<style>body{{font-family:sans-serif;max-width:36rem;margin:3rem auto}}
button{{font-size:1.2rem;padding:.6rem 1.2rem}}</style>
</head><body>
<h1>Confirm acknowledgement</h1>
<p>Notification <code>{html.escape(claim.notification_id)}</code>
for agency <code>{html.escape(claim.agency_id)}</code>.</p>
<p>Pressing the button records that your agency has received this referral and stops its escalation.</p>
<form method="post">
<input type="hidden" name="token" value="{t}">
<button type="submit">Acknowledge</button>
</form>
</body></html>
"""


def cross_site_problem(request: Request, base_url: str) -> str | None:
    own = {origin_of(base_url), origin_of(str(request.base_url))}
    return _cross_site(request.headers, own)
