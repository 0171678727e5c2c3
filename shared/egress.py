"""Outbound HTTP that cannot be pointed at the pipeline's own network (SSRF guard).

An agency's webhook URL comes from configuration, but a mistaken or malicious entry must never reach the
cloud metadata service, the database or anything else inside. Every connection resolves the host, refuses
the attempt if ANY resolved address is loopback, private (RFC 1918), link-local (incl. 169.254.169.254),
CGNAT (100.64/10), IPv6 unique-local or link-local, unspecified, multicast or otherwise not global, and
then connects to the address it checked (so a DNS answer that changes between check and connect, "DNS
rebinding", cannot slip through). TLS still uses the URL's host name for SNI and certificate checks, and
the Host header is untouched. Production allows https only; loopback only with EGRESS_ALLOW_LOOPBACK=true
in a local or test run (the recipient simulator listens on 127.0.0.1). Redirects are never followed and
proxies from the environment are ignored (a proxy would connect on our behalf, unchecked).
"""

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import httpcore
import httpx
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.settings import ConfigurationRefused, Environment, current_environment

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Awaitable[list[str]]]

# Named so a refusal says which range matched; anything else that is not globally routable is refused too.
BLOCKED_NETWORKS: tuple[tuple[str, ipaddress.IPv4Network | ipaddress.IPv6Network], ...] = tuple(
    (name, ipaddress.ip_network(cidr))
    for name, cidr in (
        ("cloud metadata", "169.254.169.254/32"),
        ("loopback", "127.0.0.0/8"),
        ("loopback", "::1/128"),
        ("unspecified", "0.0.0.0/8"),
        ("unspecified", "::/128"),
        ("private (RFC 1918)", "10.0.0.0/8"),
        ("private (RFC 1918)", "172.16.0.0/12"),
        ("private (RFC 1918)", "192.168.0.0/16"),
        ("link-local", "169.254.0.0/16"),
        ("link-local", "fe80::/10"),
        ("CGNAT (RFC 6598)", "100.64.0.0/10"),
        ("IPv6 unique-local", "fc00::/7"),
        ("multicast", "224.0.0.0/4"),
        ("multicast", "ff00::/8"),
        ("reserved", "240.0.0.0/4"),
    )
)


class EgressSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="EGRESS_", extra="ignore")

    allow_loopback: bool = False  # local/test only: the recipient simulator and test servers are on 127.0.0.1
    dns_timeout_seconds: float = 5.0


class EgressRefused(httpx.ConnectError):
    """The destination is not allowed (scheme, or an address inside our own networks)."""


def blocked_reason(address: IPAddress, *, allow_loopback: bool = False) -> str | None:
    """Why this address may not be connected to, or None when it is a public address."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:10.0.0.1 is 10.0.0.1
    if address.is_loopback and allow_loopback:
        return None
    for name, network in BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return name
    if not address.is_global:
        return "not a public address"
    return None


def check_url(url: str, *, environment: Environment, allow_loopback: bool) -> None:
    """Static checks, before any DNS: scheme (https only in production) and a literal address or localhost."""
    parsed = httpx.URL(url)
    allowed_schemes = ("https",) if environment == "production" else ("https", "http")
    if parsed.scheme not in allowed_schemes:
        raise EgressRefused(f"scheme {parsed.scheme!r} not allowed in {environment} (allowed: {allowed_schemes})")
    host = parsed.host
    if not host:
        raise EgressRefused("URL has no host")
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        if not allow_loopback:
            raise EgressRefused(f"host {host!r} is loopback")
        return
    try:
        literal = ipaddress.ip_address(host)
    except ValueError:
        return  # a name: checked when resolved, at every connection
    reason = blocked_reason(literal, allow_loopback=allow_loopback)
    if reason:
        raise EgressRefused(f"address {literal} is {reason}")


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _GuardedBackend(httpcore.AsyncNetworkBackend):
    """httpcore's network layer with the check between resolving and connecting."""

    def __init__(self, resolver: Resolver, allow_loopback: bool, dns_timeout: float) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._resolver = resolver
        self._allow_loopback = allow_loopback
        self._dns_timeout = dns_timeout

    async def checked_addresses(self, host: str, port: int) -> list[str]:
        try:
            literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            literal = None
        if literal is not None:
            candidates = [str(literal)]
        else:
            try:
                candidates = await asyncio.wait_for(self._resolver(host, port), self._dns_timeout)
            except (OSError, TimeoutError) as exc:
                raise httpx.ConnectError(f"could not resolve {host!r}: {type(exc).__name__}") from exc
        if not candidates:
            raise httpx.ConnectError(f"{host!r} resolved to no address")
        for candidate in candidates:  # one bad answer refuses the host: rotating DNS answers are not a lottery
            reason = blocked_reason(ipaddress.ip_address(candidate), allow_loopback=self._allow_loopback)
            if reason:
                raise EgressRefused(f"{host!r} resolves to {candidate}, which is {reason}")
        return candidates

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        addresses = await self.checked_addresses(host, port)
        last: Exception | None = None
        for address in addresses:  # the checked address itself, never the name again
            try:
                return await self._inner.connect_tcp(address, port, timeout, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                last = exc
        assert last is not None
        raise last

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,  # noqa: ASYNC109 (httpcore's interface)
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        raise EgressRefused("unix sockets are not an egress destination")

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's own transport (request/response mapping, TLS with the URL's host name) on the guarded backend."""

    def __init__(
        self,
        *,
        environment: Environment,
        allow_loopback: bool,
        resolver: Resolver = system_resolver,
        dns_timeout: float = 5.0,
        limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),  # noqa: B008
        verify: ssl.SSLContext | bool = True,
    ) -> None:
        super().__init__(verify=verify, limits=limits, trust_env=False, retries=0)
        self.backend = _GuardedBackend(resolver, allow_loopback, dns_timeout)
        self._environment = environment
        self._allow_loopback = allow_loopback
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(verify=verify, trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            retries=0,
            network_backend=self.backend,
        )

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        check_url(str(request.url), environment=self._environment, allow_loopback=self._allow_loopback)
        return await super().handle_async_request(request)


def make_egress_client(
    settings: EgressSettings | None = None,
    *,
    environment: Environment | None = None,
    resolver: Resolver = system_resolver,
    timeout: httpx.Timeout | float = 10.0,
    limits: httpx.Limits = httpx.Limits(max_connections=100, max_keepalive_connections=20),  # noqa: B008
    verify: ssl.SSLContext | bool = True,
) -> httpx.AsyncClient:
    """The client for every request to an agency: guarded, no redirects, no environment proxies.

    EGRESS_ALLOW_LOOPBACK=true in production is refused (ConfigurationRefused)."""
    settings = settings or EgressSettings()
    environment = environment or current_environment()
    if settings.allow_loopback and environment == "production":
        raise ConfigurationRefused("EGRESS_ALLOW_LOOPBACK=true is for local and test runs only, not production")
    transport = GuardedTransport(
        environment=environment,
        allow_loopback=settings.allow_loopback,
        resolver=resolver,
        dns_timeout=settings.dns_timeout_seconds,
        limits=limits,
        verify=verify,
    )
    return httpx.AsyncClient(transport=transport, timeout=timeout, follow_redirects=False, trust_env=False)
