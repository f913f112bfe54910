"""uvicorn's WebSocket protocol with the opening handshake taken from uvicorn's own parse.

On an upgrade, uvicorn's HTTP protocol (httptools) has parsed the request already; it then
writes the request out again as bytes for the WebSocket protocol, where the `websockets`
library parses it a second time, checks its headers with its general parsers and builds a
response object the connection keeps for life. In a connect storm that was ~35 us of the
~300 us of server CPU a connection costs (bench/RESULTS.md). This protocol reads the method,
path and headers from the HTTP protocol that hands the connection over, checks what RFC 6455
section 4.2.1 asks of the server (GET on HTTP/1.1, one 16-byte Sec-WebSocket-Key, version 13;
uvicorn has checked Upgrade and Connection), and writes the 101 itself once the application
accepts. The frames are parsed by `websockets`, as before, in a `Protocol` that starts open.

Anything else is uvicorn's as it was: the rejections before `websocket.accept` (403, the HTTP
denial response, 500) use the handshake object uvicorn made, and a request that does not come
from uvicorn's httptools protocol goes through `websockets`' parser unchanged.
"""

from __future__ import annotations

import base64
import binascii
import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import unquote

from uvicorn.protocols.utils import get_client_addr, get_path_with_query_string
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import Protocol, Side, State
from websockets.utils import accept_key

from .engineio.direct import DirectWriter

MAX_EARLY_BYTES = 64 * 1024  # what a client may send before the handshake's answer


class HandshakeRefused(Exception):
    """The upgrade request is not a valid WebSocket opening handshake."""

    def __init__(self, status: HTTPStatus, reason: str, *headers: tuple[str, str]) -> None:
        super().__init__(reason)
        self.status = status
        self.headers = headers


def websocket_key(method: str, http_version: str, headers: list[tuple[bytes, bytes]]) -> str:
    """The request's Sec-WebSocket-Key, checked as RFC 6455 section 4.2.1 asks of a server;
    raises HandshakeRefused with the answer otherwise."""
    if method != "GET":
        raise HandshakeRefused(HTTPStatus.METHOD_NOT_ALLOWED, "not GET", ("Allow", "GET"))
    if http_version != "1.1":
        raise HandshakeRefused(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED, "not HTTP/1.1")
    keys = [value for name, value in headers if name == b"sec-websocket-key"]
    versions = [value for name, value in headers if name == b"sec-websocket-version"]
    if len(versions) != 1 or versions[0].strip() != b"13":
        raise HandshakeRefused(
            HTTPStatus.UPGRADE_REQUIRED, "Sec-WebSocket-Version", ("Sec-WebSocket-Version", "13")
        )
    if len(keys) != 1:
        raise HandshakeRefused(HTTPStatus.BAD_REQUEST, "Sec-WebSocket-Key")
    key = keys[0].strip()
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 16:
        raise HandshakeRefused(HTTPStatus.BAD_REQUEST, "Sec-WebSocket-Key")
    return key.decode("ascii")


def upgrade_request_of(transport: Any) -> tuple[dict[str, Any], bytes] | None:
    """The HTTP scope and request target uvicorn's httptools protocol parsed for the upgrade
    it is handing over on `transport`, or None when the connection does not come from there."""
    http = transport.get_protocol() if hasattr(transport, "get_protocol") else None
    scope, url = getattr(http, "scope", None), getattr(http, "url", None)
    if not isinstance(scope, dict) or scope.get("type") != "http" or "method" not in scope:
        return None
    if not isinstance(url, bytes):
        return None
    return scope, url


class WebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's `websockets-sansio` protocol, its opening handshake done from uvicorn's parse.

    It also tells its direct writer (realtime.engineio.direct) when it may no longer take
    frames without a check: when writing pauses, and when it closes or is closing. And the
    101 waits in that writer for the frames written in the same loop turn (the Engine.IO open
    packet): one write and one wake-up of the client instead of two, per connection (bench:
    +3-4 % connects/s in a storm). What the protocol writes itself (a pong, a close) goes
    after it.
    """

    _key: str | None = None  # set while this protocol answers the handshake itself
    _early = b""  # frames a client sent before the handshake's answer
    direct_writer: DirectWriter | None = None  # set by realtime.engineio.direct
    _answer_held = False  # the 101 waits in the direct writer (see `_release_answer`)

    # ----- the direct writer ---------------------------------------------------------

    def pause_writing(self) -> None:
        super().pause_writing()
        if self.direct_writer is not None:
            self.direct_writer.hold()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        writer, self.direct_writer = self.direct_writer, None  # no cycle left to collect
        if writer is not None:
            writer.hold()  # for good: `disconnected` fails every check from now on

    def _hold_if_closing(self) -> None:
        """After anything that may start the close (a close frame either way, a failure)."""
        if self.direct_writer is not None and (
            self.close_sent or self.conn.state is not State.OPEN
        ):
            self.direct_writer.hold()

    def _release_answer(self) -> None:
        """Write the held 101 now: whatever the protocol writes itself must follow it."""
        if self._answer_held:
            self._answer_held = False
            if self.direct_writer is not None:
                self.direct_writer.flush()

    def send_keepalive_ping(self) -> None:
        self._release_answer()
        super().send_keepalive_ping()

    def keepalive_timeout(self) -> None:
        self._release_answer()
        super().keepalive_timeout()
        self._hold_if_closing()

    def shutdown(self) -> None:
        self._release_answer()
        super().shutdown()
        self._hold_if_closing()

    # ----- the opening handshake -----------------------------------------------------

    def data_received(self, data: bytes) -> None:
        self._release_answer()
        self._received(data)
        self._hold_if_closing()

    def _received(self, data: bytes) -> None:
        if self._key is not None and not self.handshake_complete:
            self._hold_early(data)
            return
        if self.handshake_initiated:
            super().data_received(data)
            return
        request = upgrade_request_of(self.transport)
        if request is None:
            super().data_received(data)  # websockets parses the request, as uvicorn does
            return
        self._open(*request)

    def _open(self, http: dict[str, Any], url: bytes) -> None:
        self.handshake_initiated = True
        headers: list[tuple[bytes, bytes]] = http["headers"]
        raw_path, _, query_string = url.partition(b"?")
        try:
            self._key = websocket_key(http["method"], http["http_version"], headers)
            path = raw_path.decode("ascii")
        except UnicodeDecodeError:
            self._refuse(HandshakeRefused(HTTPStatus.BAD_REQUEST, "the request target"))
            return
        except HandshakeRefused as refused:
            self._refuse(refused)
            return
        subprotocols = [
            token.strip()
            for name, value in headers
            if name == b"sec-websocket-protocol"
            for token in value.decode("latin-1").split(",")
        ]
        self.scope = {
            "type": "websocket",
            "asgi": {"version": self.asgi_version, "spec_version": "2.4"},
            "http_version": "1.1",
            "scheme": self.scheme,
            "server": self.server,
            "client": self.client,
            "root_path": self.root_path,
            "path": self.root_path + unquote(path),
            "raw_path": self.root_path.encode("ascii") + raw_path,
            "query_string": query_string,
            "headers": headers,
            "subprotocols": subprotocols,
            "state": self.app_state.copy(),
            "extensions": {"websocket.http.response": {}},
        }
        self.queue.put_nowait({"type": "websocket.connect"})
        task = self.loop.create_task(self.run_asgi())
        task.add_done_callback(self.on_task_complete)
        self.tasks.add(task)

    def _refuse(self, refused: HandshakeRefused) -> None:
        response = self.conn.reject(
            refused.status, f"Failed to open a WebSocket connection: {refused}.\n"
        )
        for name, value in refused.headers:
            response.headers[name] = value
        self.handshake_complete = self.close_sent = True
        self.conn.send_response(response)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.transport.close()

    def _hold_early(self, data: bytes) -> None:
        """A client must wait for the 101 before it sends frames (RFC 6455 section 4.1); what
        one sends sooner is read once the application accepts, up to MAX_EARLY_BYTES."""
        self._early += data
        if len(self._early) > MAX_EARLY_BYTES:
            self._early = b""
            self.transport.close()

    async def send(self, message: Any) -> None:
        self._release_answer()
        try:
            await self._send_message(message)
        finally:
            self._hold_if_closing()

    async def _send_message(self, message: Any) -> None:
        if (
            self._key is None
            or self.handshake_complete
            or self.initial_response is not None
            or message["type"] != "websocket.accept"
        ):
            await super().send(message)  # uvicorn's own, rejections included
            return
        await self.writable.wait()
        if self.disconnected:
            await super().send(message)  # raises ClientDisconnected
            return
        if self.logger.isEnabledFor(logging.INFO):
            self.logger.info(
                '%s - "WebSocket %s" [accepted]',
                get_client_addr(self.scope),
                get_path_with_query_string(self.scope),
            )
        if self.transport.is_closing():
            return
        answer = self._switching_protocols(message)  # raises on a bad header: uvicorn's 500
        self.handshake_complete = True
        # from here on, frames only: a protocol that starts open (the ServerProtocol is unused)
        self.conn = Protocol(  # type: ignore[assignment]
            Side.SERVER, state=State.OPEN, max_size=self.config.ws_max_size, logger=self.conn.logger
        )
        if self.direct_writer is not None:  # with the first frames (the Engine.IO open packet)
            self.direct_writer.cork(answer)
            self._answer_held = True
        else:
            self.transport.write(answer)
        self.start_keepalive()
        early, self._early = self._early, b""
        if early:
            self._release_answer()
            super().data_received(early)

    def _switching_protocols(self, message: Any) -> bytes:
        """The 101 answer: uvicorn's default headers, then the application's."""
        assert self._key is not None
        lines = [
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Accept: " + accept_key(self._key).encode("ascii") + b"\r\n"
        ]
        subprotocol = message.get("subprotocol")
        extra = [(b"Sec-WebSocket-Protocol", subprotocol.encode("latin-1"))] if subprotocol else []
        for name, value in (*self.default_headers, *message.get("headers", ()), *extra):
            name, value = bytes(name), bytes(value)
            if not name or any(c in name + value for c in b"\r\n\0") or b":" in name:
                raise RuntimeError("Invalid HTTP header in websocket.accept.")  # as uvicorn's HTTP
            lines.append(name + b": " + value + b"\r\n")
        lines.append(b"\r\n")
        return b"".join(lines)
