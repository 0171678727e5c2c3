"""Against the real services: intake (OAuth client credentials from a real provider, real Kafka, real PostgreSQL)
and ops, each as its own process. Every probe prints what it sent and what came back.

Needs Kafka, PostgreSQL and Java (the mock OIDC provider); run it under `heavy`.
"""

import asyncio
import base64
import json
import secrets
import select
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from aiokafka.structs import TopicPartition
from argon2 import PasswordHasher
from sqlalchemy import select as sql_select

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.infra.oidc_runtime import OidcProviderHandle, provide_oidc_provider
from devtools.infra.ports import MissingPrerequisite, free_ports
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.processes import ServiceProcess
from devtools.runner.samples import sample_report
from shared.envelope import EnvelopeSettings, Keyring, new_key, open_record
from shared.store.engine import make_engine
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord
from shared.topics import REPORTS, ensure_topics, topic_specs
from tests.conftest import unavailable
from tests.security.probe import tried

pytestmark = pytest.mark.integration

AUDIENCE = "careline-intake"
PROVIDER_CONFIG = {
    "interactiveLogin": False,
    "tokenCallbacks": [
        {
            "issuerId": "default",
            "tokenExpiry": 300,
            "requestMappings": [
                {
                    "requestParam": "scope",
                    "match": scope,
                    "claims": {"sub": "${clientId}", "client_id": "${clientId}", "aud": [aud], "scope": scope},
                }
                for scope, aud in (
                    ("reports:write", AUDIENCE),
                    ("reports:read", AUDIENCE),
                    ("reports:write reports:read", AUDIENCE),
                    ("other-api", "other-api"),
                )
            ],
        }
    ],
}
KEY_ID = "sec-test-1"
METRICS_TOKEN = secrets.token_urlsafe(32)
KEYS = json.dumps({KEY_ID: new_key()})
PERSONAL = ("Avery", "narrative")  # sample_report's child and the narrative key


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProviderHandle]:
    try:
        handle = provide_oidc_provider(tmp_path_factory.mktemp("oidc"), json_config=PROVIDER_CONFIG)
    except MissingPrerequisite as exc:
        unavailable(f"no OIDC provider: {exc}")
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def services(
    kafka: KafkaHandle, postgres: PostgresHandle, provider: OidcProviderHandle, work_dir: Path
) -> Iterator[dict[str, ServiceProcess]]:
    database_url = postgres.create_database("security")
    asyncio.run(ensure_topics(kafka.bootstrap_servers))
    upgrade(database_url)
    intake_port, ops_port = free_ports(2)
    common = {
        "ENVIRONMENT": "test",
        "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
        "DATABASE_URL": database_url,
        "LOG_FORMAT": "json",
    }
    intake = ServiceProcess(
        "intake",
        "services.intake",
        intake_port,
        {
            **common,
            "INTAKE_PORT": str(intake_port),
            "INTAKE_AUTH": "oidc",
            "INTAKE_AUTH_ISSUER": provider.issuer(),
            "INTAKE_AUTH_AUDIENCE": AUDIENCE,
            "INTAKE_RATE_PER_SECOND": "0.1",
            "INTAKE_RATE_BURST": "20",
            "INTAKE_CONSUME_INBOUND_TOPIC": "false",
            "ENVELOPE_KEYS": KEYS,
            "ENVELOPE_CURRENT_KEY_ID": KEY_ID,
            "METRICS_TOKEN": METRICS_TOKEN,  # set: /metrics asks for it (METRICS_OPEN from the suite notwithstanding)
        },
        work_dir / "security-logs",
    )
    ops = ServiceProcess(
        "ops",
        "services.ops",
        ops_port,
        {
            **common,
            "OPS_PORT": str(ops_port),
            "OPS_USERNAME": "ops",
            "OPS_PASSWORD_HASH": PasswordHasher().hash("correct horse"),
            "OPS_SERVICES": "{}",
        },
        work_dir / "security-logs",
    )
    running = {"intake": intake, "ops": ops}
    for svc in running.values():
        svc.start()
    try:
        for svc in running.values():
            svc.wait_healthy(90)
        yield running
    finally:
        for svc in running.values():
            svc.terminate()
        log = intake.log_path.read_text(errors="replace")
        assert "Avery" not in log  # nothing personal reached the intake's log either


def _token(provider: OidcProviderHandle, client_id: str, scope: str) -> str:
    response = httpx.post(
        f"{provider.issuer()}/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, "any-secret"),
        timeout=30,
        trust_env=False,
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _report(tag: str) -> dict[str, Any]:
    report = sample_report(f"CL-SEC-{tag}-{uuid.uuid4().hex[:6].upper()}", "Hartford")
    report["received_at"] = datetime.now(UTC).isoformat()
    return report


def _bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_intake_requires_a_valid_token_with_the_right_scope(
    services: dict[str, ServiceProcess], provider: OidcProviderHandle
) -> None:
    intake = services["intake"].url
    report = _report("AUTH")
    writer = _token(provider, "careline-system", "reports:write")
    reader = _token(provider, "careline-reader", "reports:read")
    other_audience = _token(provider, "careline-system", "other-api")
    forged = writer[:-4] + ("AAAA" if not writer.endswith("AAAA") else "BBBB")
    probes = [
        ("POST /v1/reports, no token", {}, "post", 401),
        ("POST /v1/reports, token for another audience", _bearer(other_audience), "post", 401),
        ("POST /v1/reports, token with a forged signature", _bearer(forged), "post", 401),
        ("POST /v1/reports, token with reports:read only", _bearer(reader), "post", 403),
        ("GET /v1/reports/{id}, no token", {}, "get", 401),
        ("GET /v1/reports/{id}, token with reports:write only", _bearer(writer), "get", 403),
        ("GET /v1/reports/{id}/timeline, no token", {}, "timeline", 401),
        ("POST /v1/reports, token with reports:write", _bearer(writer), "post", 202),
        ("GET /v1/reports/{id}, token with reports:read (not routed: no router runs)", _bearer(reader), "get", 404),
    ]
    for what, headers, method, want in probes:
        rid = report["careline_report_id"]
        if method == "post":
            response = httpx.post(f"{intake}/v1/reports", json=report, headers=headers, timeout=30)
        elif method == "get":
            response = httpx.get(f"{intake}/v1/reports/{rid}", headers=headers, timeout=30)
        else:
            response = httpx.get(f"{intake}/v1/reports/{rid}/timeline", headers=headers, timeout=30)
        tried(what, f"{response.status_code} {response.headers.get('www-authenticate', '')} {response.text[:120]}")
        assert response.status_code == want, what
        if want in (401, 403):
            assert response.headers["www-authenticate"].startswith('Bearer realm="careline-intake"')
        if want == 403:
            assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


def test_intake_rate_limits_each_client_with_retry_after(
    services: dict[str, ServiceProcess], provider: OidcProviderHandle
) -> None:
    intake = services["intake"].url
    token = _token(provider, "rate-limited-client", "reports:write")
    other = _token(provider, "another-client", "reports:write")
    statuses = []
    retry_after = None
    for _ in range(30):
        response = httpx.post(f"{intake}/v1/reports", content=b"{}", headers=_bearer(token), timeout=30)
        statuses.append(response.status_code)
        if response.status_code == 429:
            retry_after = response.headers.get("retry-after")
    tried(
        "30 rapid POSTs from one client (burst 20, 0.1/s)",
        f"{statuses.count(422)}x 422, {statuses.count(429)}x 429, Retry-After {retry_after}",
    )
    assert statuses[:20] == [422] * 20 and statuses[20:].count(429) >= 9  # at most one token refilled meanwhile
    assert retry_after is not None and int(retry_after) >= 1
    unaffected = httpx.post(f"{intake}/v1/reports", content=b"{}", headers=_bearer(other), timeout=30)
    tried("the same from another client", unaffected.status_code)
    assert unaffected.status_code == 422  # one client's flood does not lock out another


def test_intake_body_cap_refuses_without_reading_past_it(
    services: dict[str, ServiceProcess], provider: OidcProviderHandle
) -> None:
    port = services["intake"].port
    token = _token(provider, "big-body-client", "reports:write")
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {20 * 1024 * 1024}\r\n\r\n"
            ).encode()
        )
        declared = sock.recv(4096)  # answered with no body byte sent: the declared length alone is refused
    tried("POST with Content-Length: 20 MiB and no body sent", declared.split(b"\r\n")[0].decode())
    assert declared.startswith(b"HTTP/1.1 413")

    chunk = b"x" * 65536
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(
            (
                f"POST /v1/reports HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: Bearer {token}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        answer = b""
        while sent < 20 * 1024 * 1024:
            readable, _, _ = select.select([sock], [], [], 0)
            if readable:
                answer = sock.recv(4096)
                break
            try:
                sock.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                break
            sent += len(chunk)
        if not answer:
            sock.settimeout(10)
            answer = sock.recv(4096)
    status_line = answer.split(b"\r\n")[0].decode()
    tried(
        "a chunked 20 MiB body, 64 KiB at a time, stopping when intake answers",
        f"sent {sent // 1024} KiB, {status_line}",
    )
    assert answer.startswith(b"HTTP/1.1 413")
    # Cap 256 KiB: refused long before the 20 MiB were sent (what was sent beyond the cap sat in the loopback
    # socket buffers; test_limits_unit proves the server reads no chunk past the one that crosses the cap).
    assert sent < 8 * 1024 * 1024


def _reports_records(bootstrap: str, report_id: str) -> list[tuple[bytes, list[tuple[str, bytes]]]]:
    async def read() -> list[tuple[bytes, list[tuple[str, bytes]]]]:
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            count = next(spec.partitions for spec in topic_specs() if spec.name == REPORTS)
            partitions = [TopicPartition(REPORTS, p) for p in range(count)]
            consumer.assign(partitions)
            await consumer.seek_to_beginning(*partitions)
            end = await consumer.end_offsets(partitions)
            found = []
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    found += [(r.value, list(r.headers)) for r in records if r.key == report_id.encode()]
                positions = [await consumer.position(tp) for tp in partitions]
                if all(pos >= end[tp] for pos, tp in zip(positions, partitions, strict=True)):
                    break
            return found
        finally:
            await consumer.stop()

    return asyncio.run(read())


def test_retries_answer_as_the_first_time_and_conflicts_are_409(
    services: dict[str, ServiceProcess], provider: OidcProviderHandle, kafka: KafkaHandle
) -> None:
    intake = services["intake"].url
    token = _token(provider, "idempotent-client", "reports:write")
    report = _report("IDEM")
    key = {"idempotency-key": f"key-{uuid.uuid4().hex}"}
    first = httpx.post(f"{intake}/v1/reports", json=report, headers={**_bearer(token), **key}, timeout=30)
    retry = httpx.post(f"{intake}/v1/reports", json=report, headers={**_bearer(token), **key}, timeout=30)
    no_key = httpx.post(f"{intake}/v1/reports", json=report, headers=_bearer(token), timeout=30)
    changed = {**report, "missing_or_runaway": not report["missing_or_runaway"]}
    conflict = httpx.post(f"{intake}/v1/reports", json=changed, headers=_bearer(token), timeout=30)
    other_report = _report("IDEM2")
    key_reuse = httpx.post(f"{intake}/v1/reports", json=other_report, headers={**_bearer(token), **key}, timeout=30)
    tried(
        "the same report 3x (twice with one Idempotency-Key), then changed content, then the key on another report",
        [(r.status_code, r.headers.get("idempotent-replayed")) for r in (first, retry, no_key, conflict, key_reuse)],
    )
    assert first.status_code == retry.status_code == no_key.status_code == 202
    assert first.json() == retry.json() == no_key.json()
    assert retry.headers["idempotent-replayed"] == "true"
    assert conflict.status_code == 409 and "different content" in conflict.json()["error"]
    assert key_reuse.status_code == 409 and "Idempotency-Key" in key_reuse.json()["error"]
    records = _reports_records(kafka.bootstrap_servers, report["careline_report_id"])
    tried(f"records on {REPORTS} keyed {report['careline_report_id']}", len(records))
    assert len(records) == 1  # one Kafka record for three accepted posts

    # ...and that record is sealed: no clear text on the topic, the router's open_record gets it back.
    value, headers = records[0]
    assert not any(p.encode() in value for p in PERSONAL) and report["child"]["first_name"].encode() not in value
    keyring = Keyring.from_settings(EnvelopeSettings(keys=KEYS, current_key_id=KEY_ID))
    opened = json.loads(open_record(value, headers, keyring))
    tried("open_record on it", {"headers": dict(headers), "opened report id": opened["report"]["careline_report_id"]})
    assert opened["report"]["child"]["first_name"] == report["child"]["first_name"]


def _claims(token: str) -> dict[str, Any]:
    """The token's payload as the provider issued it (intake verified the signature; the test only reads it)."""
    payload = token.split(".")[1]
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return decoded


async def _audit_rows(database_url: str, report_id: str) -> list[dict[str, Any]]:
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(sql_select(AuditEventRecord).where(AuditEventRecord.report_id == report_id))
            return [dict(row._mapping) for row in rows]
    finally:
        await engine.dispose()


def test_the_oauth_client_identity_is_what_the_audit_trail_records(
    services: dict[str, ServiceProcess], provider: OidcProviderHandle
) -> None:
    client_id = f"careline-oauth-{uuid.uuid4().hex[:8]}"
    token = _token(provider, client_id, "reports:write")
    claims = _claims(token)
    tried(f"client-credentials token for {client_id}", {k: claims.get(k) for k in ("sub", "client_id", "azp", "scope")})
    assert claims["client_id"] == claims["sub"] == client_id  # what intake takes as the identity (client_id first)
    report = _report("AUDIT")
    report["narrative"] = f"Seeded audit narrative {uuid.uuid4().hex}"
    report["reporter"] = {"name": f"Reporter Audit {uuid.uuid4().hex[:6]}", "role": "teacher", "phone": "860-555-0142"}
    response = httpx.post(f"{services['intake'].url}/v1/reports", json=report, headers=_bearer(token), timeout=30)
    tried("POST /v1/reports with it", f"{response.status_code} {response.text[:100]}")
    assert response.status_code == 202
    rows = asyncio.run(_audit_rows(services["intake"].env["DATABASE_URL"], report["careline_report_id"]))
    tried(f"audit_events rows for {report['careline_report_id']}", rows)
    assert [(row["event"], row["actor"]) for row in rows] == [("submitted", f"client:{claims['client_id']}")]
    child = report["child"]
    personal = [child["first_name"], child["last_name"], child["date_of_birth"], child["current_location"],
                report["narrative"], report["reporter"]["name"], report["reporter"]["phone"], token]  # fmt: skip
    stored = " | ".join(str(value) for row in rows for value in row.values())
    assert not [s for s in personal if s in stored]  # the client's identity and ids; nothing personal, no token


def test_received_at_out_of_bounds_is_422(services: dict[str, ServiceProcess], provider: OidcProviderHandle) -> None:
    token = _token(provider, "clock-client", "reports:write")
    for when in ("9999-01-01T00:00:00+00:00", "1990-01-01T00:00:00+00:00"):
        report = {**_report("CLOCK"), "received_at": when}
        response = httpx.post(f"{services['intake'].url}/v1/reports", json=report, headers=_bearer(token), timeout=30)
        tried(f"POST a report received_at {when}", f"{response.status_code} {response.json()['problems']}")
        assert response.status_code == 422 and response.json()["problems"][0]["field"] == "received_at"


def test_ops_refuses_a_cross_site_post_with_valid_basic_credentials(services: dict[str, ServiceProcess]) -> None:
    ops = services["ops"].url
    auth = ("ops", "correct horse")
    evil = httpx.post(
        f"{ops}/api/endpoints/pd-hartford/enable", auth=auth, headers={"origin": "https://evil.example"}, timeout=30
    )
    tried("POST /api/endpoints/pd-hartford/enable, Basic ok, Origin: https://evil.example", evil.status_code)
    assert evil.status_code == 403
    page = httpx.get(f"{ops}/", auth=auth, timeout=30)
    tried("GET / headers", page.headers.get("content-security-policy"))
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]


def test_intake_metrics_answer_only_the_metrics_token(
    services: dict[str, ServiceProcess], provider: OidcProviderHandle
) -> None:
    intake = services["intake"].url
    writer = _token(provider, "careline-system", "reports:write")
    probes = [
        ("GET /metrics, no credentials", {}, 401),
        ("GET /metrics, an intake access token", _bearer(writer), 401),
        ("GET /metrics, Bearer METRICS_TOKEN", _bearer(METRICS_TOKEN), 200),
    ]
    for what, headers, want in probes:
        response = httpx.get(f"{intake}/metrics", headers=headers, timeout=30)
        tried(what, f"{response.status_code} {response.text[:80]!r}")
        assert response.status_code == want, what
        assert ("intake_requests" in response.text) is (want == 200)
