"""Mutual TLS for intake (INTAKE_AUTH=mtls): uvicorn requires a client certificate issued by the configured CA,
and the certificate's identity is what the audit trail and the rate limit see.

uvicorn verifies the chain during the handshake (CERT_REQUIRED against INTAKE_TLS_CLIENT_CA_FILE), so a client
without a certificate, or with one from another CA, never gets an HTTP request through. uvicorn does not hand
the peer certificate to the application, so `MutualTlsProtocol` (its httptools protocol, plus a few lines) puts
it into each request's scope as the ASGI TLS extension (`scope["extensions"]["tls"]`), with the identity read
from it: the first DNS or URI subjectAltName, else the subject's commonName.
"""

import ssl
from pathlib import Path
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from services.intake.settings import IntakeSettings
from shared.settings import ConfigurationRefused

IDENTITY_KEY = "client_identity"  # ours, beside the ASGI TLS extension's own keys


def certificate_identity(peercert: dict[str, Any] | None) -> str | None:
    """From `SSLSocket.getpeercert()`: a DNS or URI subjectAltName first (RFC 6125), else the commonName."""
    if not peercert:
        return None
    for kind, value in peercert.get("subjectAltName", ()):
        if kind in ("DNS", "URI") and value:
            return str(value)[:200]
    for rdn in peercert.get("subject", ()):
        for name, value in rdn:
            if name == "commonName" and value:
                return str(value)[:200]
    return None


def _subject_text(peercert: dict[str, Any]) -> str:
    return ",".join(f"{name}={value}" for rdn in peercert.get("subject", ()) for name, value in rdn)


class MutualTlsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol that also tells the application who the verified client certificate names."""

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        ssl_object = transport.get_extra_info("ssl_object")
        peercert = ssl_object.getpeercert() if ssl_object is not None else None
        self._tls: dict[object, object] = {
            "client_cert_name": _subject_text(peercert) if peercert else None,
            "client_cert_error": None,
            "tls_version": None,
            "cipher_suite": None,
            IDENTITY_KEY: certificate_identity(peercert),
        }

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self.scope["extensions"] = {"tls": dict(self._tls)}


def _existing(setting: str, path: Path | None, why: str) -> str:
    if path is None:
        raise ConfigurationRefused(f"{setting} is required with INTAKE_AUTH=mtls ({why})")
    if not path.is_file():
        raise ConfigurationRefused(f"{setting}={path}: no such file ({why})")
    return str(path)


def server_tls_options(settings: IntakeSettings) -> dict[str, Any]:
    """uvicorn's TLS arguments for this configuration; ConfigurationRefused naming the setting when mutual TLS
    is asked for and something it needs is missing (without the CA there would be nothing to check against)."""
    if settings.auth != "mtls":
        if settings.tls_certfile is None:
            return {}
        return {
            "ssl_certfile": _existing("INTAKE_TLS_CERTFILE", settings.tls_certfile, "the server's certificate"),
            "ssl_keyfile": _existing("INTAKE_TLS_KEYFILE", settings.tls_keyfile, "the server's private key"),
        }
    ca = _existing("INTAKE_TLS_CLIENT_CA_FILE", settings.tls_client_ca_file, "the CA client certificates must chain to")
    return {
        "ssl_certfile": _existing("INTAKE_TLS_CERTFILE", settings.tls_certfile, "the server's certificate"),
        "ssl_keyfile": _existing("INTAKE_TLS_KEYFILE", settings.tls_keyfile, "the server's private key"),
        "ssl_ca_certs": ca,
        "ssl_cert_reqs": ssl.CERT_REQUIRED,
        "http": MutualTlsProtocol,
    }


def tls_identity(scope: dict[str, Any]) -> str | None:
    """The verified client certificate's identity, if this request came over mutual TLS."""
    tls = (scope.get("extensions") or {}).get("tls") or {}
    identity = tls.get(IDENTITY_KEY)
    return identity if isinstance(identity, str) and identity else None
