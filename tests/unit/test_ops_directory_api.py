"""Ops can see which agencies each town resolves to, fallbacks and inferred rows marked; behind ops login."""

import base64

from fastapi.testclient import TestClient
from pydantic import SecretStr

from services.ops.app import create_app
from services.ops.passwords import hash_password
from services.ops.settings import OpsSettings

BASIC = {"authorization": "Basic " + base64.b64encode(b"ops:correct horse").decode()}
client = TestClient(create_app(OpsSettings(password_hash=SecretStr(hash_password("correct horse")))))  # no lifespan


def test_every_town_resolves_and_anonymous_callers_are_refused() -> None:
    assert client.get("/api/directory/towns").status_code == 401
    answer = client.get("/api/directory/towns", params={"as_of": "2026-12-03"}, headers=BASIC)
    assert answer.status_code == 200
    towns = answer.json()["towns"]
    assert len(towns) == 169
    groton = next(t for t in towns if t["town"] == "Groton")
    print("\nGroton resolves to:", groton)
    assert len(groton["police"]) == 3  # Town of Groton, City of Groton, Groton Long Point


def test_one_town_and_an_unknown_one() -> None:
    assert client.get("/api/directory/towns/Hartford", headers=BASIC).json()["town"] == "Hartford"
    assert client.get("/api/directory/towns/Atlantis", headers=BASIC).status_code == 404
