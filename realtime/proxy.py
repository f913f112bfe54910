"""The client's address and scheme behind reverse proxies: `X-Forwarded-For` and
`X-Forwarded-Proto` are believed only from a trusted proxy (TRUSTED_PROXIES, addresses or
networks, default loopback; `*` trusts every peer), like uvicorn's `--forwarded-allow-ips`.

Daphne's own `--proxy-headers` believes the header from anyone: any client could claim to be
127.0.0.1 (which the REST API lets in when INTERNAL_API_KEY is unset) or any address at all
(which MAX_CONNECTIONS_PER_IP counts by).
"""

from __future__ import annotations

import functools
import ipaddress
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from .conf import realtime_settings

ASGIApp = Any
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted if entry != "*")
    except ValueError as exc:
        raise ImproperlyConfigured(f"TRUSTED_PROXIES: {exc}") from None


def is_trusted(address: str, trusted: tuple[str, ...]) -> bool:
    if "*" in trusted:
        return True
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(trusted))


# the peer's address is checked on every connection: cached (real addresses only, never the
# header's hops, which a client chooses)
_peer_is_trusted = functools.lru_cache(maxsize=1024)(is_trusted)


def forwarded_client(scope: dict[str, Any], trusted: tuple[str, ...]) -> dict[str, Any]:
    """`scope` as a trusted proxy describes it: the client is the right-most address of
    X-Forwarded-For that is not itself a trusted proxy (those left of it are the client's own
    word), the scheme is X-Forwarded-Proto's. Unchanged when the peer is no trusted proxy."""
    peer = scope.get("client")
    if not peer or not _peer_is_trusted(str(peer[0]), trusted):
        return scope
    values, proto = _forwarded_headers(scope.get("headers", ()))
    if not values and not proto:
        return scope  # nothing to change: no copy kept per connection
    chain = [hop.strip() for value in values for hop in value.decode("latin-1").split(",")]
    chain = [hop for hop in chain if hop]
    if not chain and not proto:
        return scope
    forwarded = dict(scope)
    if chain:
        client = next((hop for hop in reversed(chain) if not is_trusted(hop, trusted)), chain[0])
        forwarded["client"] = (client[:64], 0)
    scheme = proto.strip().lower().decode("latin-1")
    if scheme in ("http", "https"):
        if scope["type"] == "websocket":
            scheme = "wss" if scheme == "https" else "ws"
        forwarded["scheme"] = scheme
    return forwarded


def _forwarded_headers(headers: Any) -> tuple[list[bytes], bytes]:
    """Every X-Forwarded-For value and the first X-Forwarded-Proto (b"" if none), read in one
    pass: a trusted peer's every request is read here (the loopback's, by default)."""
    values: list[bytes] = []
    proto = None
    for name, value in headers:
        if name == b"x-forwarded-for":
            values.append(value)
        elif name == b"x-forwarded-proto" and proto is None:
            proto = value
    return values, proto or b""


class ProxyHeadersMiddleware:
    """Wraps the ASGI application; reads TRUSTED_PROXIES on every connection."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        _networks(tuple(realtime_settings.TRUSTED_PROXIES))  # a bad setting fails at start

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] in ("http", "websocket"):
            scope = self.forwarded(scope)
        await self.app(scope, receive, send)

    def forwarded(self, scope: dict[str, Any]) -> dict[str, Any]:
        """The HTTP or WebSocket `scope` as the application below sees it."""
        return forwarded_client(scope, tuple(realtime_settings.TRUSTED_PROXIES))
