"""The Engine.IO server of one mount path: settings, the session table, handshakes."""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs

from .. import metrics
from ..conf import realtime_settings
from ..ids import new_sid
from ..jsoncodec import dumps
from .errors import HandshakeError
from .session import Session, SessionHandler, Transport

HandlerFactory = Callable[[Session], SessionHandler]


MAX_CACHED_QUERY = 200  # bytes: a connect's query is the same for most clients; keep it short


def parse_query(scope: dict[str, Any]) -> dict[str, str]:
    """The query string as single values (the first of repeated keys)."""
    raw = scope.get("query_string", b"")
    if len(raw) <= MAX_CACHED_QUERY:
        return dict(_cached_query(raw))
    return dict(_parsed_query(raw))


def _parsed_query(raw: bytes) -> tuple[tuple[str, str], ...]:
    parsed = parse_qs(raw.decode("latin-1"), keep_blank_values=True)
    return tuple((key, values[0]) for key, values in parsed.items())


_cached_query = functools.lru_cache(maxsize=256)(_parsed_query)


def client_address(scope: dict[str, Any]) -> str:
    client = scope.get("client")
    return str(client[0]) if client else ""


def header(scope: dict[str, Any], name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value.decode("latin-1")
    return None


class EngineServer:
    """Creates sessions and finds them again by sid; the transports do the I/O."""

    def __init__(self, handler_factory: HandlerFactory, mount: str = "/socket.io/") -> None:
        self.handler_factory = handler_factory
        self.mount = mount
        self.sessions: dict[str, Session] = {}
        self.ping_interval_ms = int(realtime_settings.PING_INTERVAL_MS)
        self.ping_timeout_ms = int(realtime_settings.PING_TIMEOUT_MS)
        self.ping_interval_s = self.ping_interval_ms / 1000
        self.ping_timeout_s = self.ping_timeout_ms / 1000
        self.max_payload = int(realtime_settings.MAX_PAYLOAD)
        self.upgrade_timeout_s = int(realtime_settings.UPGRADE_TIMEOUT_MS) / 1000
        self.max_buffered_packets = int(realtime_settings.MAX_BUFFERED_PACKETS)
        self.max_buffered_bytes = int(realtime_settings.MAX_BUFFERED_BYTES)
        self.cors_allowed_origins = list(realtime_settings.CORS_ALLOWED_ORIGINS)
        self.max_per_address = int(realtime_settings.MAX_CONNECTIONS_PER_IP)
        self._per_address: Counter[str] = Counter()
        self.closed = False  # set while the process shuts down: no new session

    def check_query(self, query: dict[str, str], transport: str) -> HandshakeError | None:
        """Validate `EIO` and `transport` the way the reference server does."""
        if query.get("EIO") != "4":
            return HandshakeError.UNSUPPORTED_PROTOCOL_VERSION
        if query.get("transport") != transport:
            return HandshakeError.UNKNOWN_TRANSPORT
        return None

    def admits(self, scope: dict[str, Any]) -> bool:
        """False when the client's address already holds MAX_CONNECTIONS_PER_IP sessions, or
        when the server is closed (shutting down: the client retries, and lands elsewhere)."""
        if self.closed:
            return False
        return self._per_address[client_address(scope)] < self.max_per_address

    def create_session(self, scope: dict[str, Any], transport: Transport) -> Session:
        """A registered session; the caller sends the handshake, then calls `start_session`."""
        session = Session(self, new_sid(), scope, transport)
        self.sessions[session.sid] = session
        self._per_address[client_address(scope)] += 1
        metrics.child(metrics.SESSIONS, transport.value).inc()
        return session

    def start_session(self, session: Session) -> None:
        session.start(self.handler_factory(session))

    def handshake_frame(self, session: Session) -> str:
        upgrades = ["websocket"] if session.transport is Transport.POLLING else []
        return "0" + dumps(
            {
                "sid": session.sid,
                "upgrades": upgrades,
                "pingInterval": self.ping_interval_ms,
                "pingTimeout": self.ping_timeout_ms,
                "maxPayload": self.max_payload,
            }
        )

    def forget(self, session: Session) -> None:
        if self.sessions.get(session.sid) is session:
            del self.sessions[session.sid]
            address = client_address(session.scope)
            self._per_address[address] -= 1
            if self._per_address[address] <= 0:
                del self._per_address[address]
            metrics.child(metrics.SESSIONS, session.transport.value).dec()
