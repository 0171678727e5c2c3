"""Outbound SSRF guard (shared/egress.py): private, loopback, link-local, metadata, CGNAT, ULA refused after
resolving, the connection goes to the checked address, https only in production, loopback only when allowed."""

import ipaddress
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import aiohttp
import pytest
import yaml

from shared.directory.endpoints import load_endpoints
from shared.egress import EgressRefused, EgressSettings, blocked_reason, make_egress_client
from shared.settings import ConfigurationRefused
from tests.security.probe import tried

OFF = EgressSettings(allow_loopback=False)  # the suite's environment allows loopback; these tests must not
BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("::1", "loopback"),
    ("10.1.2.3", "private (RFC 1918)"),
    ("172.16.0.1", "private (RFC 1918)"),
    ("192.168.1.1", "private (RFC 1918)"),
    ("169.254.169.254", "cloud metadata"),
    ("169.254.10.10", "link-local"),
    ("fe80::1", "link-local"),
    ("100.64.0.1", "CGNAT (RFC 6598)"),
    ("fd00::1", "IPv6 unique-local"),
    ("0.0.0.0", "unspecified"),  # noqa: S104 (an address to refuse, not to bind)
    ("::", "unspecified"),
    ("224.0.0.1", "multicast"),
    ("ff02::1", "multicast"),
    ("::ffff:10.0.0.1", "private (RFC 1918)"),  # IPv4-mapped IPv6
    ("192.0.2.10", "not a public address"),  # TEST-NET-1: documentation only
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_every_internal_range_is_refused(address: str, reason: str) -> None:
    assert blocked_reason(ipaddress.ip_address(address)) == reason
    assert blocked_reason(ipaddress.ip_address("93.184.216.34")) is None
    assert blocked_reason(ipaddress.ip_address("2606:4700::1111")) is None


def _resolver(answers: list[str], calls: list[str]):  # type: ignore[no-untyped-def]
    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        return answers

    return resolve


@pytest.mark.parametrize("answers", [["10.0.0.5"], ["169.254.169.254"], ["fd00::1"], ["93.184.216.34", "127.0.0.1"]])
async def test_a_name_resolving_to_an_internal_address_is_refused(answers: list[str]) -> None:
    calls: list[str] = []
    client = make_egress_client(OFF, environment="production", resolver=_resolver(answers, calls))
    async with client:
        with pytest.raises(EgressRefused) as refused:
            await client.post("https://agency.example.org/webhook", content=b"{}")
    tried(f"POST https://agency.example.org/webhook, DNS answers {answers}", str(refused.value))
    assert calls == ["agency.example.org"]  # resolved once, refused before any connection
    assert "which is" in str(refused.value)


class _Recorder(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_POST(self) -> None:
        _Recorder.seen.append(f"{self.headers['Host']} {self.path}")
        self.send_response(200)
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *_: object) -> None:
        return None


@pytest.fixture
def local_server() -> Iterator[int]:
    _Recorder.seen = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()


async def test_a_loopback_webhook_is_refused_unless_explicitly_allowed(local_server: int) -> None:
    port = local_server
    async with make_egress_client(EgressSettings(allow_loopback=False), environment="test") as client:
        for url in (f"http://127.0.0.1:{port}/hook", f"http://localhost:{port}/hook", f"http://[::1]:{port}/hook"):
            with pytest.raises(EgressRefused) as refused:
                await client.post(url, content=b"{}")
            tried(f"POST {url} with EGRESS_ALLOW_LOOPBACK off", str(refused.value))
    assert _Recorder.seen == []  # the real server never saw a request
    async with make_egress_client(EgressSettings(allow_loopback=True), environment="test") as client:
        response = await client.post(f"http://127.0.0.1:{port}/hook", content=b"{}")
    tried(f"POST http://127.0.0.1:{port}/hook with EGRESS_ALLOW_LOOPBACK=true (test)", response.status_code)
    assert response.status_code == 200 and len(_Recorder.seen) == 1


async def test_the_connection_goes_to_the_checked_address_with_the_original_host(local_server: int) -> None:
    """DNS rebinding: the name is resolved once by the guard and the socket opened to that very address
    (agency.invalid cannot be resolved by the system at all); the Host header still names the agency."""
    calls: list[str] = []
    settings = EgressSettings(allow_loopback=True)
    async with make_egress_client(settings, environment="test", resolver=_resolver(["127.0.0.1"], calls)) as client:
        response = await client.post(f"http://agency.invalid:{local_server}/hook", content=b"{}")
    tried(f"POST http://agency.invalid:{local_server}/hook, guard resolves to 127.0.0.1", _Recorder.seen)
    assert response.status_code == 200
    assert calls == ["agency.invalid"] and _Recorder.seen == [f"agency.invalid:{local_server} /hook"]


async def test_production_allows_https_only_and_no_loopback_switch() -> None:
    calls: list[str] = []
    async with make_egress_client(
        OFF, environment="production", resolver=_resolver(["93.184.216.34"], calls)
    ) as client:
        with pytest.raises(EgressRefused, match="scheme 'http' not allowed in production"):
            await client.post("http://agency.example.org/webhook", content=b"{}")
    assert calls == []  # refused before DNS
    with pytest.raises(ConfigurationRefused, match="EGRESS_ALLOW_LOOPBACK"):
        make_egress_client(EgressSettings(allow_loopback=True), environment="production")


class _Redirector(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.send_response(302)
        self.send_header("location", "http://169.254.169.254/latest/meta-data/")
        self.send_header("content-length", "0")
        self.end_headers()

    def log_message(self, *_: object) -> None:
        return None


async def test_redirects_are_not_followed_and_proxies_are_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 302 towards the metadata service comes back as the answer (a failed attempt), never followed; a proxy in
    the environment (which would connect on our behalf, unchecked) is not used: the request goes direct."""
    monkeypatch.setenv("HTTP_PROXY", "http://10.0.0.1:3128")
    monkeypatch.setenv("HTTPS_PROXY", "http://10.0.0.1:3128")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirector)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        async with make_egress_client(EgressSettings(allow_loopback=True), environment="test") as client:
            response = await client.post(f"http://127.0.0.1:{server.server_address[1]}/hook", content=b"{}")
    finally:
        server.shutdown()
        server.server_close()
    tried("POST to a server answering 302 -> metadata, with HTTP(S)_PROXY set", response.status_code)
    assert response.status_code == 302
    assert response.headers["location"].startswith("http://169.254.169.254")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "https://10.0.0.8/hook",
        "https://[fd00::1]/hook",
        "https://localhost:5432/",
        "https://100.64.1.1/",
    ],
)
def test_endpoint_urls_are_validated_when_the_agency_file_is_loaded(url: str, tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    path.write_text(
        yaml.safe_dump({"agencies": {"pd-x": {"webhook_url": url, "webhook_secrets": ["a"], "ack_secrets": ["b"]}}})
    )
    with pytest.raises(ValueError, match=r"agencies\.pd-x\.webhook_url refused") as refused:
        load_endpoints(path, environment="test", egress=EgressSettings(allow_loopback=False))
    tried(f"AGENCY_CONFIG_FILE with webhook_url {url}", str(refused.value))


def test_http_webhook_urls_are_refused_in_production_at_load(tmp_path: Path) -> None:
    path = tmp_path / "agencies.yaml"
    agencies = {"pd-x": {"webhook_url": "http://agency.example.org/h", "webhook_secrets": ["a"], "ack_secrets": ["b"]}}
    path.write_text(yaml.safe_dump({"agencies": agencies}))
    assert load_endpoints(path, environment="test", egress=EgressSettings())["pd-x"].webhook_url.startswith("http:")
    with pytest.raises(ValueError, match="scheme 'http' not allowed in production"):
        load_endpoints(path, environment="production", egress=OFF)


def test_egress_refused_is_an_aiohttp_connection_error() -> None:
    """Callers that treat aiohttp.ClientError as a failed attempt need no change to see a refusal."""
    assert issubclass(EgressRefused, aiohttp.ClientConnectionError)
