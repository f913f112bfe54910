"""TLS for `serve`: every worker runs `https://` and `wss://` on the one shared listening socket.

daphne's `--fd` serves plain HTTP on an inherited socket and its `ssl:` endpoint binds a port of
its own, so neither lets N workers share one TLS port. The Twisted endpoint `tlsfd:` (plugin
in `twisted/plugins/general_socket_endpoints.py`) does: it adopts the inherited socket like
`fd:` and runs TLS over each connection with Twisted's TLSMemoryBIOFactory, as `ssl:` does.
No Django here: Twisted imports this while it looks for endpoint plugins.
"""

from __future__ import annotations

import os
import re
import socket
from typing import Any

from OpenSSL import crypto
from twisted.internet.endpoints import AdoptedStreamServerEndpoint
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.ssl import CertificateOptions
from twisted.protocols.tls import TLSMemoryBIOFactory
from zope.interface import implementer

PREFIX = "tlsfd"
_PEM_CERTIFICATE = re.compile(
    rb"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.DOTALL
)


class TLSConfigError(ValueError):
    """The certificate or the key cannot be used (missing, unreadable, not a pair)."""


def certificate_options(cert_path: str, key_path: str) -> CertificateOptions:
    """Twisted's TLS server options for a PEM certificate (leaf first, then its chain) and
    its PEM private key; raises TLSConfigError when they cannot serve."""
    try:
        with open(cert_path, "rb") as cert_file, open(key_path, "rb") as key_file:
            cert_pem, key_pem = cert_file.read(), key_file.read()
    except OSError as exc:
        raise TLSConfigError(f"cannot read the certificate or key: {exc}") from exc
    blocks = _PEM_CERTIFICATE.findall(cert_pem)
    if not blocks:
        raise TLSConfigError(f"{cert_path} holds no PEM certificate")
    try:
        certificates = [crypto.load_certificate(crypto.FILETYPE_PEM, block) for block in blocks]
        key = crypto.load_privatekey(crypto.FILETYPE_PEM, key_pem)
        options = CertificateOptions(
            privateKey=key, certificate=certificates[0], extraCertChain=certificates[1:]
        )
        options.getContext()  # builds the context now: a key of another certificate fails
        return options
    except Exception as exc:  # pyOpenSSL: bad PEM, or the key does not match the certificate
        raise TLSConfigError(f"unusable certificate or key: {exc}") from exc


def endpoint_description(fileno: int, cert_path: str, key_path: str) -> str:
    """The daphne `-e` endpoint string for TLS on inherited socket `fileno`."""
    cert, key = _escape(os.path.abspath(cert_path)), _escape(os.path.abspath(key_path))
    return f"{PREFIX}:fileno={fileno}:certKey={cert}:privateKey={key}"


def _escape(value: str) -> str:
    """Endpoint strings split on `:` and `=`; a backslash makes either literal."""
    return value.replace("\\", "\\\\").replace(":", "\\:").replace("=", "\\=")


@implementer(IStreamServerEndpoint)
class AdoptedTLSServerEndpoint:
    """Listens on an inherited listening socket, with TLS over every accepted connection."""

    def __init__(self, reactor: Any, fileno: int, options: CertificateOptions) -> None:
        self._adopted = AdoptedStreamServerEndpoint(reactor, fileno, _family_of(fileno))
        self._options = options

    def listen(self, factory: Any) -> Any:
        # CertificateOptions provides the context-factory interface through zope, which the
        # stubs do not see
        tls = TLSMemoryBIOFactory(self._options, False, factory)  # type: ignore[arg-type]
        return self._adopted.listen(tls)


def parse_endpoint(
    reactor: Any, fileno: str, privateKey: str, certKey: str | None = None
) -> AdoptedTLSServerEndpoint:
    """`tlsfd:fileno=N:privateKey=KEY[:certKey=CERT]`; like `ssl:`, the certificate defaults to
    the key's file (one PEM holding both)."""
    options = certificate_options(certKey or privateKey, privateKey)
    return AdoptedTLSServerEndpoint(reactor, int(fileno), options)


def _family_of(fileno: int) -> socket.AddressFamily:
    probe = socket.socket(fileno=os.dup(fileno))  # family detected from the descriptor
    try:
        return probe.family
    finally:
        probe.close()
