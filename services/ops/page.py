"""The ops page's HTML shells, most urgent first. The scripts in static/ poll the JSON API and redraw; they insert
values with textContent only, so nothing from the data is ever interpreted as markup. No inline script or style
anywhere: everything is a file under /static, so a strict Content-Security-Policy (script-src 'self') holds."""

from html import escape
from pathlib import Path

from shared.events import RecipientKind
from shared.states import NotificationState

STATIC = Path(__file__).parent / "static"
MEDIA = {".js": "text/javascript", ".css": "text/css"}


def _shell(title: str, body: str, scripts: list[str], styles: list[str] | None = None, page: str = "dashboard") -> str:
    links = "".join(f'<link rel="stylesheet" href="/static/{name}">' for name in [*(styles or []), "style.css"])
    tags = "".join(f'<script src="/static/{name}" defer></script>' for name in scripts)
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>{links}{tags}</head>
<body class="{page}"><a class="skip" href="#main">Skip to content</a>{body}</body></html>"""


def _options(values: list[tuple[str, str]]) -> str:
    return "".join(f'<option value="{escape(v)}">{escape(label)}</option>' for v, label in values)


KINDS = [("", "all kinds"), *((k.value, k.value) for k in RecipientKind)]
STATES = [("", "all states"), *((s.value, s.value.replace("_", "-")) for s in NotificationState)]
DUE = [("any", "any time"), ("missed", "missed"), ("at_risk", "at risk"), ("later", "later")]


def _filters(name: str, *, states: bool) -> str:
    """The filter row of one work list; each control has its own label (phone: they wrap)."""
    due = (
        f'<label>Deadline <select name="due" data-testid="{name}-due">{_options(DUE)}</select></label>'
        if states
        else ""
    )
    open_states = [s for s in STATES if s[0] != NotificationState.ACKNOWLEDGED]
    state = f'<label>State <select name="state">{_options(open_states)}</select></label>'
    return f"""<form class="filters" id="{name}-filters" data-list="{name}">
<label>Search <input type="search" name="q" placeholder="report id or agency" autocomplete="off"></label>{due}
<details class="more"><summary>More filters</summary><div class="more-body">
<label>Kind <select name="kind">{_options(KINDS)}</select></label>{state if states else ""}
<label>Agency id <input name="agency" autocomplete="off" size="12"></label></div></details></form>"""


def _head(columns: list[str]) -> str:
    return "<thead><tr>" + "".join(f'<th scope="col">{c}</th>' for c in columns) + "</tr></thead>"


def _pager(name: str, label: str) -> str:
    return f"""<nav class="pager" aria-label="{label} pages"><button type="button" data-page="prev">Previous</button>
<span id="{name}-range" aria-live="polite"></span><button type="button" data-page="next">Next</button></nav>"""


def dashboard_page() -> str:
    body = f"""<header class="top"><h1>Careline DMST pipeline</h1>
<form id="open-report" role="search" aria-label="open one report"><label for="rid">Report id</label>
<input id="rid" name="rid" autocomplete="off" required><button>Open</button></form>
<p id="updated" class="muted">loading&hellip;</p></header>
<main id="main">
<section id="urgent" aria-labelledby="urgent-h"><h2 id="urgent-h" class="vh">What needs a human</h2>
<div role="status" aria-live="polite"><ul id="banners" class="banners"></ul></div>
<p id="action-result" role="status" aria-live="polite"></p></section>

<section id="clocks" class="list" aria-labelledby="clocks-h">
<h2 id="clocks-h" tabindex="-1">Open clocks <small>soonest deadline first</small></h2>
<p class="none">None: every notification is acknowledged.</p>{_filters("clocks", states=True)}
<table id="clock-list" class="rows stack"><caption class="vh">Open clocks</caption>
{_head(["Time left", "Agency", "Kind", "State", "Report"])}<tbody></tbody></table>
{_pager("clocks", "open clocks")}</section>

<section id="dead-letters" class="list" aria-labelledby="dead-h">
<h2 id="dead-h" tabindex="-1">Dead letters <small>newest first</small></h2>
<p class="none">None.</p>{_filters("dead", states=False)}
<table id="dead-list" class="rows stack"><caption class="vh">Dead letters</caption>
{_head(["Agency", "Kind", "Attempts", "Reason", "Report", "Redrive"])}<tbody></tbody></table>
{_pager("dead", "dead letters")}</section>

<section id="endpoints" aria-labelledby="endpoints-h"><h2 id="endpoints-h" tabindex="-1">Endpoints</h2>
<div id="endpoint-list"></div></section>

<section id="health" aria-labelledby="health-h"><h2 id="health-h" tabindex="-1">Services</h2>
<ul id="service-list" class="pills"></ul>
<h3 id="lag">Consumer lag by group</h3><p id="lag-error" class="bad"></p>
<table id="lag-list" class="rows"><caption class="vh">Consumer lag by group</caption>
{_head(["Group", "Lag (messages)"])}<tbody></tbody></table></section>

<section id="charts" aria-labelledby="charts-h"><h2 id="charts-h">Last hours</h2><div class="charts">
<figure><figcaption>Reports and notifications per minute</figcaption><div id="chart-activity" class="chart"></div>
<p id="chart-activity-text" class="vh"></p></figure>
<figure><figcaption><label for="latency-kind">Time to deliver and acknowledge (p50, p95), seconds:</label>
<select id="latency-kind"></select></figcaption><div id="chart-latency" class="chart"></div>
<p id="chart-latency-text" class="vh"></p></figure>
<figure><figcaption>Lag per consumer group, messages</figcaption>
<div id="chart-lag" class="chart"></div><p id="chart-lag-text" class="vh"></p></figure></div></section>

<section id="recipients" aria-labelledby="recipients-h"><h2 id="recipients-h">By recipient kind</h2>
<p id="report-counts" class="pills"></p>
<table id="kind-list" class="rows sortable"><caption class="vh">Notifications by recipient kind; open a kind
for its agencies</caption><thead></thead><tbody></tbody></table>
<div id="agency-drill" hidden><h3 id="agency-h" tabindex="-1"></h3>
<table id="agency-list" class="rows sortable"><caption class="vh">Agencies of the chosen kind</caption>
<thead></thead><tbody></tbody></table></div></section>
</main>"""
    return _shell("Careline DMST pipeline", body, ["uPlot.iife.min.js", "common.js", "dashboard.js"], ["uPlot.min.css"])


def report_page(report_id: str) -> str:
    """The script reads the report id from the address; the heading shows it escaped for readers without JS."""
    body = f"""<header class="top"><p><a href="/">&larr; dashboard</a></p>
<h1>Report <span id="rid">{escape(report_id)}</span></h1><p id="status" role="status" aria-live="polite"></p></header>
<main id="main">
<section aria-labelledby="clocks-h"><h2 id="clocks-h">Recipients and their clocks</h2><ul id="recipients" class="cards">
</ul></section>
<section aria-labelledby="timeline-h"><h2 id="timeline-h">Timeline</h2>
<p class="filters"><label>Recipient <select id="timeline-agency"><option value="">all</option></select></label></p>
<ol id="timeline" class="timeline"></ol>
</section>
<section aria-labelledby="linked-h"><h2 id="linked-h">Linked reports</h2><div id="linked"></div></section>
</main>"""
    return _shell("Careline report " + escape(report_id), body, ["common.js", "report.js"], page="report")


def static_file(name: str) -> tuple[str, str] | None:
    """Contents and media type of one of the page's own assets; None for anything else."""
    path = STATIC / name
    if path.parent != STATIC or path.suffix not in MEDIA or not path.is_file():
        return None
    return path.read_text(), MEDIA[path.suffix]
