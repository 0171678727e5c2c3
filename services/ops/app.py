"""Ops service: the live dashboard, its JSON API and the ops actions, all behind authentication.

Ids, agency names, states and times only: no personal data reaches this page or its API.
"""

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Query
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel

from services.ops.actions import enable_endpoint, redrive_dead_letters
from services.ops.auth import Authenticator
from services.ops.charts import activity, lag_series
from services.ops.lag import LagReader, LagTracker
from services.ops.oidc import install_oidc
from services.ops.pacing import Pace
from services.ops.page import dashboard_page, report_page, static_file
from services.ops.queries import STATES, Due, ListFilter, ListView, OpsQueries
from services.ops.security import BrowserSecurity
from services.ops.settings import OpsSettings
from services.ops.snapshot import build_snapshot, keep_gauges_fresh
from shared.directory.directory import load_directory
from shared.directory.resolution import resolve_all, resolve_town
from shared.directory.towns import UnknownTown
from shared.http import add_common_routes, serve
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.settings import DatabaseSettings, KafkaSettings
from shared.states import NotificationState
from shared.store.engine import make_engine, make_session_factory


class RedriveRequest(BaseModel):
    notification_id: str | None = None
    agency_id: str | None = None


def create_app(settings: OpsSettings | None = None, kafka: KafkaSettings | None = None) -> FastAPI:
    settings = settings or OpsSettings()
    kafka = kafka or KafkaSettings()
    engine = make_engine(DatabaseSettings().database_url)
    sessions = make_session_factory(engine)
    queries = OpsQueries(sessions)
    reader = LagReader(kafka)
    pace = Pace(settings.lag_sample_seconds, settings.unwatched_sample_seconds)
    lag = LagTracker(reader, pace, settings.lag_history_minutes)
    client = httpx.AsyncClient(timeout=2.0)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        background = [
            asyncio.create_task(lag.run()),
            asyncio.create_task(keep_gauges_fresh(queries, settings.at_risk_seconds, pace)),
        ]
        yield
        for task in background:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await reader.close()
        await client.aclose()
        await engine.dispose()

    app = FastAPI(title="Careline DMST ops", lifespan=lifespan)
    app.add_middleware(BrowserSecurity, public_urls=[settings.oidc_public_url], inline_script_hashes=True)
    add_common_routes(app, lambda: True)
    authenticate = Authenticator(
        settings.username,
        settings.password_hash.get_secret_value() if settings.password_hash else None,
        oidc=install_oidc(app, settings),
    )
    User = Annotated[str, Depends(authenticate)]

    @app.get("/", response_class=HTMLResponse)
    async def page(_: User) -> str:
        return dashboard_page()

    @app.get("/static/{name}")
    async def static(name: str, _: User) -> Response:
        found = static_file(name)
        if found is None:
            raise HTTPException(404, "no such file")
        return Response(found[0], media_type=found[1], headers={"cache-control": "no-cache"})

    @app.get("/reports/{report_id}", response_class=HTMLResponse)
    async def one_report_page(report_id: str, _: User) -> str:
        return report_page(report_id)

    @app.get("/api/state")
    async def api_state(_: User) -> dict[str, Any]:
        return await build_snapshot(
            queries, client, settings.service_urls(), lag, settings.at_risk_seconds, settings.lag_alert_messages
        )

    @app.get("/api/notifications")
    async def api_notifications(
        _: User,
        view: ListView = "clocks",
        kind: Annotated[str | None, Query(max_length=32)] = None,
        agency: Annotated[str | None, Query(max_length=64)] = None,
        state: NotificationState | None = None,
        due: Due = "any",
        q: Annotated[str | None, Query(max_length=64)] = None,
        limit: Annotated[int, Query(ge=1, le=200)] = 25,
        offset: Annotated[int, Query(ge=0)] = 0,
    ) -> dict[str, Any]:
        """A work list, one page at a time: open clocks (soonest deadline first) or dead letters (newest first),
        narrowed by recipient kind, agency, state, time left, or a search on report id and agency."""
        match = ListFilter(kind or None, agency or None, state, due, (q or "").strip() or None)
        return await queries.notifications(view, match, settings.at_risk_seconds, limit=limit, offset=offset)

    @app.get("/api/agencies")
    async def api_agencies(_: User, kind: Annotated[str, Query(min_length=1, max_length=32)]) -> dict[str, Any]:
        """The drill-down of one recipient kind: each agency's counts and times."""
        return {"recipient_kind": kind, "agencies": await queries.by_recipient(kind)}

    directory = load_directory()

    @app.get("/api/directory/towns")
    async def api_directory_towns(_: User, as_of: date | None = None) -> dict[str, Any]:
        """Which police agencies, MDT and HART liaison each of the 169 towns resolves to (today, or `as_of`), with
        every fallback and inferred row marked, so ops can check the directory before a report depends on it."""
        day = as_of or datetime.now(UTC).date()
        return {"as_of": day.isoformat(), "towns": resolve_all(directory, day)}

    @app.get("/api/directory/towns/{town}")
    async def api_directory_town(_: User, town: str, as_of: date | None = None) -> dict[str, Any]:
        day = as_of or datetime.now(UTC).date()
        try:
            return asdict(resolve_town(directory, town, day))
        except UnknownTown:
            raise HTTPException(404, "not one of Connecticut's 169 towns") from None

    @app.get("/api/charts")
    async def api_charts(_: User) -> dict[str, Any]:
        series = await activity(sessions, settings.chart_hours, settings.chart_bucket_minutes)
        return {**series, "lag": lag_series(lag.snapshot()["history"])}

    @app.get("/api/summary")
    async def api_summary(_: User) -> dict[str, Any]:
        """Compact counts (the local runner prints them): reports routed, notifications by kind and state."""
        per_kind = {row["recipient_kind"]: {state: row[state] for state in STATES} for row in await queries.by_kind()}
        return {"reports": (await queries.report_counts())["routed"], "notifications": per_kind}

    @app.get("/api/reports/{report_id}")
    async def api_report(report_id: str, _: User) -> dict[str, Any]:
        found = await queries.report(report_id)
        if found is None:
            raise HTTPException(404, f"no routed report {report_id!r}")
        return found

    @app.post("/api/redrive")
    async def api_redrive(body: RedriveRequest, user: User) -> dict[str, Any]:
        if not body.notification_id and not body.agency_id:
            raise HTTPException(422, "name a notification_id or an agency_id")
        result = await redrive_dead_letters(
            kafka, sessions, user, notification_id=body.notification_id, agency_id=body.agency_id
        )
        return {"redriven": result.redriven}

    @app.post("/api/endpoints/{agency_id}/enable")
    async def api_enable(agency_id: str, user: User) -> dict[str, str]:
        await enable_endpoint(sessions, user, agency_id)
        return {"agency_id": agency_id, "disabled": "false"}

    return app


def main() -> None:
    enforce_startup_checks("ops", uses=("envelope",))  # redrive opens and re-seals notifications
    configure_logging("ops")
    settings = OpsSettings()
    serve(create_app(settings), settings.host, settings.port)
