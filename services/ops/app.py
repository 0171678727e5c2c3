"""Ops dashboard (first cut): counts of reports and notifications by recipient kind and state.

Ids, kinds, states and counts only; no personal data reaches this page.
"""

import contextlib
import html
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from services.ops.settings import OpsSettings
from shared.http import add_common_routes, serve
from shared.logging import configure_logging
from shared.settings import DatabaseSettings
from shared.store.engine import make_engine, make_session_factory
from shared.store.repository import Store

STATES = ("pending", "retrying", "delivered", "acknowledged", "failed", "dead_lettered")


async def summary(store: Store) -> dict[str, Any]:
    counts = await store.counts_by_kind_and_state()
    kinds = sorted({kind for kind, _ in counts})
    return {
        "reports": await store.report_count(),
        "notifications": {kind: {s: counts.get((kind, s), 0) for s in STATES} for kind in kinds},
    }


def render(data: dict[str, Any]) -> str:
    header = "".join(f"<th>{html.escape(s)}</th>" for s in STATES)
    rows = "".join(
        f"<tr><td>{html.escape(kind)}</td>" + "".join(f"<td>{n[s]}</td>" for s in STATES) + "</tr>"
        for kind, n in data["notifications"].items()
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><meta http-equiv="refresh" content="2">
<title>Careline DMST pipeline</title>
<style>body{{font-family:system-ui,sans-serif;margin:1rem}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.3rem .6rem;text-align:right}}</style></head>
<body><h1>Careline DMST pipeline</h1><p>Reports routed: <b id="reports">{data["reports"]}</b></p>
<table><thead><tr><th>recipient kind</th>{header}</tr></thead><tbody>{rows}</tbody></table></body></html>"""


def create_app() -> FastAPI:
    engine = make_engine(DatabaseSettings().database_url)
    store = Store(make_session_factory(engine))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await engine.dispose()

    app = FastAPI(title="Careline DMST ops", lifespan=lifespan)
    add_common_routes(app, lambda: True)

    @app.get("/api/summary")
    async def api_summary() -> dict[str, Any]:
        return await summary(store)

    @app.get("/", response_class=HTMLResponse)
    async def page() -> str:
        return render(await summary(store))

    return app


def main() -> None:
    configure_logging("ops")
    settings = OpsSettings()
    serve(create_app(), settings.host, settings.port)
