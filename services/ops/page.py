"""The dashboard's HTML shells. The scripts in static/ poll the JSON API every second and redraw; they insert
values with textContent only, so nothing from the data is ever interpreted as markup."""

import json
from pathlib import Path

STATIC = Path(__file__).parent / "static"


def _shell(title: str, body: str, script: str) -> str:
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<link rel="stylesheet" href="/static/style.css"></head><body>{body}{script}</body></html>"""


def dashboard_page() -> str:
    body = """<h1>Careline DMST pipeline <span id="updated"></span></h1>
<div class="grid">
<section><h2>Pipeline health</h2><div id="health"></div>
<svg id="lag-chart" viewBox="0 0 600 120" width="100%" height="120" role="img" aria-label="consumer lag trend"></svg>
<div id="lag-error" class="risk"></div><table id="lag"></table></section>
<section><h2>Reports</h2><div id="report-counts"></div>
<form id="open-report"><input name="rid" placeholder="report id" aria-label="report id">
<button>open report</button></form></section>
</div>
<section><h2>By recipient</h2><table id="recipients"></table></section>
<h2>Needs a human</h2><p id="action-result"></p>
<section><h2>Dead letters</h2><table id="dead-letters"></table></section>
<div class="grid">
<section><h2>Missed deadlines</h2><table id="missed"></table></section>
<section><h2>Open circuit breakers</h2><table id="breakers"></table>
<h2>Disabled endpoints</h2><table id="disabled"></table></section>
<section><h2>Open clocks (soonest first)</h2><table id="clocks"></table></section>
</div>"""
    return _shell("Careline DMST pipeline", body, '<script src="/static/dashboard.js"></script>')


def report_page(report_id: str) -> str:
    safe_id = json.dumps(report_id).replace("<", "\\u003c")
    body = """<p><a href="/">&larr; dashboard</a></p><h1>Report <span id="rid"></span></h1><p id="status"></p>
<section><h2>Recipients</h2><table id="recipients"></table></section>
<section><h2>Timeline</h2><table id="timeline"></table></section>"""
    script = f'<script>const REPORT_ID = {safe_id};</script><script src="/static/report.js"></script>'
    return _shell("Careline report", body, script)


def static_file(name: str) -> tuple[str, str] | None:
    """Contents and media type of one of the page's own assets; None for anything else."""
    media = {".js": "text/javascript", ".css": "text/css"}
    path = STATIC / name
    if path.parent != STATIC or path.suffix not in media or not path.is_file():
        return None
    return path.read_text(), media[path.suffix]
