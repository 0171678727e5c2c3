"""Recipient simulator: POST /agencies/{agency_id}/webhook, plus control and inspection endpoints."""

import asyncio
import contextlib
import json
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import structlog
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from services.recipient_sim.settings import SimulatorSettings
from shared.directory.endpoints import EndpointRegistry
from shared.http import add_common_routes, serve
from shared.logging import configure_logging
from shared.production_checks import enforce_startup_checks
from shared.signing import SignatureInvalid, sign_headers, verify_signature

log = structlog.get_logger(__name__)


class FailureMode(BaseModel):
    agency_id: str
    mode: str  # "ok", an HTTP status like "503", "410", "429:10" (status:retry-after), or "timeout"


class SimulatorState:
    def __init__(self, failures: str) -> None:
        self.failures: dict[str, str] = {}
        for item in filter(None, (part.strip() for part in failures.split(","))):
            agency, _, mode = item.partition("=")
            self.failures[agency] = mode
        self.receipts: dict[str, list[dict[str, Any]]] = defaultdict(list)
        self.rejected = Counter[str]()
        self.acks_sent: dict[str, int] = {}

    def summary(self) -> dict[str, Any]:
        notifications = {
            nid: {
                "agency_id": items[0]["agency_id"],
                "receipts": len(items),
                "acknowledged": nid in self.acks_sent,
                "webhook_ids": sorted({i["webhook_id"] for i in items}),
            }
            for nid, items in self.receipts.items()
        }
        return {
            "notifications": notifications,
            "rejected_signatures": dict(self.rejected),
            "total_receipts": sum(len(v) for v in self.receipts.values()),
        }


def create_app(settings: SimulatorSettings | None = None) -> FastAPI:
    settings = settings or SimulatorSettings()
    state = SimulatorState(settings.failures)
    endpoints = EndpointRegistry()
    client = httpx.AsyncClient(timeout=10.0)
    tasks: set[asyncio.Task[None]] = set()

    silent = {a.strip() for a in settings.never_ack.split(",") if a.strip()}

    async def send_ack(agency_id: str, notification_id: str) -> None:
        await asyncio.sleep(settings.ack_delay_seconds)
        body = json.dumps(
            {"notification_id": notification_id, "agency_id": agency_id, "acknowledged_by": f"sim-officer-{agency_id}"}
        ).encode()
        for attempt in range(8):
            headers = sign_headers(endpoints.get(agency_id).ack_secrets, f"ack_{notification_id}", body)
            headers["content-type"] = "application/json"
            try:
                response = await client.post(settings.acks_url, content=body, headers=headers)
                if response.status_code < 500:
                    state.acks_sent[notification_id] = response.status_code
                    return
            except httpx.HTTPError:
                pass
            await asyncio.sleep(min(2**attempt, 15))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        for task in tasks:
            task.cancel()
        await client.aclose()

    app = FastAPI(title="Recipient agency simulator", lifespan=lifespan)
    add_common_routes(app, lambda: True)

    @app.post("/agencies/{agency_id}/webhook")
    async def receive(agency_id: str, request: Request) -> JSONResponse:
        body = await request.body()
        try:
            verify_signature(endpoints.get(agency_id).webhook_secrets, body, dict(request.headers))
        except SignatureInvalid as exc:
            state.rejected[agency_id] += 1
            return JSONResponse({"error": f"signature not valid: {exc}"}, status_code=401)
        mode = state.failures.get(agency_id, "ok")
        if mode == "timeout":
            await asyncio.sleep(3600)
        if mode != "ok":
            status, _, retry_after = mode.partition(":")
            headers = {"Retry-After": retry_after} if retry_after else {}
            return JSONResponse({"error": "simulated failure"}, status_code=int(status), headers=headers)
        notification = json.loads(body)
        notification_id = notification["notification_id"]
        first = notification_id not in state.receipts
        state.receipts[notification_id].append({"agency_id": agency_id, "webhook_id": request.headers["webhook-id"]})
        if first and agency_id not in silent:
            task = asyncio.create_task(send_ack(agency_id, notification_id))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        return JSONResponse({"status": "received"})

    @app.post("/control/failures")
    async def set_failure(failure: FailureMode) -> dict[str, str]:
        if failure.mode == "ok":
            state.failures.pop(failure.agency_id, None)
        else:
            state.failures[failure.agency_id] = failure.mode
        return {"agency_id": failure.agency_id, "mode": failure.mode}

    @app.get("/receipts")
    async def receipts() -> dict[str, Any]:
        return state.summary()

    return app


def main() -> None:
    enforce_startup_checks("recipient-sim", allowed=("local", "test"))  # a stand-in: never in production
    configure_logging("recipient-sim")
    settings = SimulatorSettings()
    serve(create_app(settings), settings.host, settings.port, graceful_seconds=2)  # it may be "timing out"
