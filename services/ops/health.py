"""Each service up or down, from its own /healthz."""

import asyncio

import httpx


async def _one(client: httpx.AsyncClient, url: str) -> str:
    try:
        response = await client.get(f"{url.rstrip('/')}/healthz")
    except httpx.HTTPError:
        return "down"
    return "up" if response.status_code == 200 else "starting"


async def service_health(client: httpx.AsyncClient, services: dict[str, str]) -> dict[str, str]:
    names = sorted(services)
    states = await asyncio.gather(*(_one(client, services[name]) for name in names))
    return dict(zip(names, states, strict=True))
