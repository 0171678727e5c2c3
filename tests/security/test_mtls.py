"""Mutual TLS as intake's authentication (INTAKE_AUTH=mtls), against the real intake process on real Kafka and
PostgreSQL. The CAs and certificates are made when the test runs (`cryptography`): a client without a
certificate and one with a certificate from another CA are refused in the handshake; a certificate from the
configured CA is accepted and its identity (subjectAltName) is what the audit trail records.

Needs Kafka and PostgreSQL; run it under `heavy`.
"""

import asyncio
import datetime as dt
import ipaddress
import json
import socket
import ssl
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy import select

from devtools.infra.kafka_runtime import KafkaHandle
from devtools.infra.ports import free_port
from devtools.infra.postgres_runtime import PostgresHandle
from devtools.runner.processes import ServiceProcess
from devtools.runner.samples import sample_report
from shared.envelope import new_key
from shared.store.engine import make_engine
from shared.store.migrate import upgrade
from shared.store.models import AuditEventRecord
from shared.topics import ensure_topics
from tests.security.probe import tried

pytestmark = pytest.mark.integration

CLIENT_IDENTITY = "careline-system.dcf.ct.gov"


@dataclass(frozen=True)
class Issued:
    cert: Path
    key: Path


class Authority:
    """A throwaway CA that issues server and client certificates into `directory`."""

    def __init__(self, name: str, directory: Path) -> None:
        self.directory = directory
        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        now = dt.datetime.now(dt.UTC)
        self.name = subject
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
            )  # keyCertSign, cRLSign
            .sign(self.key, hashes.SHA256())
        )
        self.cert_path = directory / f"{name}-ca.pem"
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, common_name: str, *, server: bool, dns: str | None = None) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        names: list[x509.GeneralName] = [x509.DNSName(dns or common_name)]
        if server:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)]))
            .issuer_name(self.name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(hours=2))
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .sign(self.key, hashes.SHA256())
        )
        stem = self.directory / common_name
        stem.with_suffix(".crt").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        stem.with_suffix(".key").write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Issued(stem.with_suffix(".crt"), stem.with_suffix(".key"))


@dataclass(frozen=True)
class Setup:
    intake: ServiceProcess
    careline: Authority
    good: Issued
    rogue: Issued
    database_url: str


def _context(careline: Authority, client: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(careline.cert_path))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def _wait_healthy(svc: ServiceProcess, context: ssl.SSLContext, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert svc.is_running(), svc.log_path.read_text(errors="replace")[-2000:]
        try:
            if httpx.get(f"https://127.0.0.1:{svc.port}/healthz", verify=context, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise AssertionError(f"intake (mTLS) not healthy after {timeout:.0f}s")


@pytest.fixture(scope="module")
def setup(kafka: KafkaHandle, postgres: PostgresHandle, work_dir: Path) -> Iterator[Setup]:
    pki = work_dir / "mtls-pki"
    pki.mkdir(parents=True, exist_ok=True)
    careline = Authority("careline-test", pki)
    other = Authority("somebody-else", pki)
    server = careline.issue("intake.test", server=True)
    good = careline.issue("careline-system", server=False, dns=CLIENT_IDENTITY)
    rogue = other.issue("careline-system-impostor", server=False, dns=CLIENT_IDENTITY)
    database_url = postgres.create_database("mtls")
    asyncio.run(ensure_topics(kafka.bootstrap_servers))
    upgrade(database_url)
    port = free_port()
    intake = ServiceProcess(
        "intake-mtls",
        "services.intake",
        port,
        {
            "ENVIRONMENT": "test",
            "KAFKA_BOOTSTRAP_SERVERS": kafka.bootstrap_servers,
            "DATABASE_URL": database_url,
            "LOG_FORMAT": "json",
            "INTAKE_PORT": str(port),
            "INTAKE_AUTH": "mtls",
            "INTAKE_TLS_CERTFILE": str(server.cert),
            "INTAKE_TLS_KEYFILE": str(server.key),
            "INTAKE_TLS_CLIENT_CA_FILE": str(careline.cert_path),
            "INTAKE_CONSUME_INBOUND_TOPIC": "false",
            "ENVELOPE_KEYS": json.dumps({"mtls": new_key()}),
            "ENVELOPE_CURRENT_KEY_ID": "mtls",
        },
        work_dir / "mtls-logs",
    )
    intake.start()
    try:
        _wait_healthy(intake, _context(careline, good))
        yield Setup(intake, careline, good, rogue, database_url)
    finally:
        intake.terminate()


def _post(setup: Setup, client: Issued | None, report_id: str) -> httpx.Response:
    report = sample_report(report_id, "Hartford")
    report["received_at"] = dt.datetime.now(dt.UTC).isoformat()
    url = f"https://127.0.0.1:{setup.intake.port}/v1/reports"
    return httpx.post(url, json=report, verify=_context(setup.careline, client), timeout=30)


async def _actors(url: str, report_id: str) -> list[str]:
    engine = make_engine(url)
    try:
        async with engine.connect() as conn:
            rows = await conn.execute(
                select(AuditEventRecord.actor).where(
                    AuditEventRecord.report_id == report_id, AuditEventRecord.event == "submitted"
                )
            )
            return [row[0] for row in rows]
    finally:
        await engine.dispose()


def _handshake(setup: Setup, client: Issued | None) -> str:
    """A raw TLS connection and one request: what the server's TLS layer said (its alert), or the status line."""
    context = _context(setup.careline, client)
    try:
        with (
            socket.create_connection(("127.0.0.1", setup.intake.port), timeout=10) as raw,
            context.wrap_socket(raw, server_hostname="localhost") as tls,
        ):
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            answer = tls.recv(4096)
            return answer.split(b"\r\n")[0].decode() if answer else "closed without an answer"
    except (ssl.SSLError, OSError) as exc:
        return f"{type(exc).__name__}: {exc}"


def test_intake_refuses_clients_without_a_certificate_from_its_ca(setup: Setup) -> None:
    good = _handshake(setup, setup.good)
    tried("TLS handshake and GET /healthz with a certificate from the configured CA", good)
    assert good == "HTTP/1.1 200 OK"
    for what, client in (("no client certificate", None), ("a certificate from another CA", setup.rogue)):
        alert = _handshake(setup, client)
        tried(f"TLS handshake and GET /healthz with {what}", alert)
        assert not alert.startswith("HTTP/"), what  # the TLS layer hung up: no request reached the application
        report_id = f"CL-MTLS-{uuid.uuid4().hex[:8].upper()}"
        try:
            response = _post(setup, client, report_id)
            outcome = f"HTTP {response.status_code} {response.text[:100]}"
        except httpx.TransportError as exc:
            outcome = f"refused in the TLS handshake: {type(exc).__name__} {str(exc)[:100]}"
        tried(f"POST /v1/reports over TLS with {what}", outcome)
        assert outcome.startswith("refused in the TLS handshake"), what
        assert asyncio.run(_actors(setup.database_url, report_id)) == []
    plain = httpx.Client(timeout=10)
    try:
        answer = plain.post(f"http://127.0.0.1:{setup.intake.port}/v1/reports", json={})
        outcome = f"HTTP {answer.status_code}"
    except httpx.TransportError as exc:
        outcome = f"refused: {type(exc).__name__}"
    finally:
        plain.close()
    tried("POST /v1/reports over plain http", outcome)
    assert outcome.startswith("refused") or outcome == "HTTP 400"  # never an answer from the application


def test_intake_accepts_a_certificate_from_its_ca_and_audits_its_identity(setup: Setup) -> None:
    report_id = f"CL-MTLS-{uuid.uuid4().hex[:8].upper()}"
    response = _post(setup, setup.good, report_id)
    tried("POST /v1/reports over TLS with a certificate from the configured CA", f"{response.status_code} "
          f"{response.text[:100]}")  # fmt: skip
    assert response.status_code == 202
    actors = asyncio.run(_actors(setup.database_url, report_id))
    tried(f"audit_events 'submitted' actor for {report_id}", actors)
    assert actors == [f"client:{CLIENT_IDENTITY}"]


def test_mutual_tls_without_its_ca_refuses_to_start_naming_the_setting(setup: Setup, work_dir: Path) -> None:
    port = free_port()
    env = {k: v for k, v in setup.intake.env.items() if k != "INTAKE_TLS_CLIENT_CA_FILE"} | {"INTAKE_PORT": str(port)}
    for environment in ("test", "production"):
        svc = ServiceProcess(f"intake-no-ca-{environment}", "services.intake", port, env | {"ENVIRONMENT": environment},
                             work_dir / "mtls-logs")  # fmt: skip
        svc.start()
        assert svc.process is not None
        code = svc.process.wait(timeout=60)
        log = svc.log_path.read_text(errors="replace")
        tried(f"start intake, ENVIRONMENT={environment}, INTAKE_AUTH=mtls, no INTAKE_TLS_CLIENT_CA_FILE",
              f"exit {code}: {log.strip().splitlines()[-1][:200]}")  # fmt: skip
        assert code != 0
        assert "INTAKE_TLS_CLIENT_CA_FILE is required with INTAKE_AUTH=mtls" in log
