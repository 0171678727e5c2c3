"""Open circuit breakers, as each notifier reports them on its /breakers endpoint."""

import asyncio

import httpx


async def _one(client: httpx.AsyncClient, name: str, url: str) -> list[dict[str, str]]:
    try:
        response = await client.get(f"{url.rstrip('/')}/breakers")
        open_agencies = response.json().get("open", []) if response.status_code == 200 else []
    except (httpx.HTTPError, ValueError):
        return []
    return [{"service": name, "agency_id": str(agency)} for agency in open_agencies]


async def open_breakers(client: httpx.AsyncClient, services: dict[str, str]) -> list[dict[str, str]]:
    notifiers = {name: url for name, url in services.items() if name.startswith("notifier")}
    found = await asyncio.gather(*(_one(client, name, url) for name, url in sorted(notifiers.items())))
    return [item for items in found for item in items]
