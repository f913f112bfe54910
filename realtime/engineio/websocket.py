"""The WebSocket transport: a new session, or the probe-and-upgrade of a long-polling one."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from ..hub import get_hub
from ..ids import PROCESS_ID, owner_of
from .backlog import pending_bytes, protocol_of, transport_of
from .cors import origin_allowed
from .direct import direct_writer_of
from .packets import EngineIOParseError, Frame, decode_packet
from .server import EngineServer, header, parse_query
from .session import SLOW_CLIENT_CLOSE_CODE, Session, Transport

logger = logging.getLogger(__name__)


class SlowClient(Exception):
    """The client stopped reading: the server's buffer for it passed the limit."""


class WebSocketChannel:
    """The ASGI send side of one WebSocket: frames out, and a single close."""

    def __init__(self, send: Any, max_backlog: int) -> None:
        self._send = send
        self._protocol = protocol_of(send)
        self._transport = transport_of(send)
        self._max_backlog = max_backlog
        self.direct_writer = direct_writer_of(send)
        self.closed = False

    def _close(self) -> None:
        self.closed = True
        if self.direct_writer is not None:
            self.direct_writer.close()

    async def accept(self) -> None:
        """Accept the WebSocket (the handshake's answer)."""
        await self._send({"type": "websocket.accept"})
        if self.direct_writer is not None:
            self.direct_writer.release_handshake()

    def write_now(self, frame: Frame) -> bool:
        """Write `frame` at the end of this loop turn where the server allows it
        (realtime.engineio.direct); False: nothing was written, send it through `__call__`."""
        if self.closed or self.direct_writer is None or not frame:
            return False
        return self.direct_writer.write(frame)

    async def __call__(self, frame: Frame | None, code: int = 1000) -> None:
        if self.closed:
            return
        if self.direct_writer is not None:
            self.direct_writer.flush()  # frames written directly go first
        if frame is None:
            self._close()
            with contextlib.suppress(OSError):  # gone already (uvicorn's ClientDisconnected)
                await self._send({"type": "websocket.close", "code": code})
            return
        if self._transport is not None and pending_bytes(self._transport) > self._max_backlog:
            self._close()
            await self._send({"type": "websocket.close", "code": SLOW_CLIENT_CLOSE_CODE})
            raise SlowClient()
        if isinstance(frame, str):
            await self._send({"type": "websocket.send", "text": frame})
        elif frame or not hasattr(self._protocol, "sendMessage"):
            await self._send({"type": "websocket.send", "bytes": frame})
        else:  # daphne drops a send with empty bytes: an empty attachment goes out directly
            assert self._protocol is not None
            self._protocol.sendMessage(b"", True)


async def handle_websocket(
    server: EngineServer, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    """ASGI entry for every WebSocket under the mount path."""
    if (await receive())["type"] != "websocket.connect":
        return
    query = parse_query(scope)
    if server.check_query(query, "websocket") is not None or not origin_allowed(
        header(scope, b"origin"), server.cors_allowed_origins
    ):
        await send({"type": "websocket.close", "code": 1008})  # before accept: HTTP 403
        return
    channel = WebSocketChannel(send, server.max_buffered_bytes)
    sid = query.get("sid")
    if sid is None:
        if not server.admits(scope):  # MAX_CONNECTIONS_PER_IP
            await send({"type": "websocket.close", "code": 1008})
            return
        await channel.accept()
        created = server.create_session(scope, Transport.WEBSOCKET)
        created.attach_websocket(channel)
        created.send(server.handshake_frame(created))
        server.start_session(created)
        await _serve(created, channel, receive)
        return
    session = server.sessions.get(sid)
    if session is None:
        owner = owner_of(sid)
        if owner is None or owner == PROCESS_ID or get_hub().layer is None:
            await send({"type": "websocket.close", "code": 1008})
            return
        from .forwarding import relay_websocket  # the forwarding layer builds on this module

        await channel.accept()
        await relay_websocket(server, owner, sid, channel, receive)
        return
    await channel.accept()
    await upgrade(session, channel, receive)


async def upgrade(session: Session, channel: Any, receive: Any) -> None:
    """Take a long-polling session over with an accepted WebSocket (local or relayed)."""
    if not session.begin_probe(channel):
        await channel(None)  # already upgraded, or another probe under way
        await _drain_until_disconnect(receive)
        return
    if await _probe(session, channel, receive):
        await _serve(session, channel, receive)


async def _probe(session: Session, channel: Any, receive: Any) -> bool:
    """Run the upgrade handshake (`2probe` -> `3probe`, then `5`); True once upgraded."""
    deadline = asyncio.get_running_loop().time() + session.server.upgrade_timeout_s
    try:
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            message = await asyncio.wait_for(receive(), max(remaining, 0.001))
            if message["type"] == "websocket.disconnect":
                return False
            frame = _frame_of(message)
            if frame == "2probe" and not session.upgrading:
                await channel("3probe")
                session.probe_succeeded()
            elif frame == "5" and session.upgrading and session.is_open:
                session.attach_websocket(channel)
                return True
            else:
                break
    except TimeoutError:
        pass
    finally:
        session.end_probe(channel)
    await channel(None)
    await _drain_until_disconnect(receive)
    return False


async def _serve(session: Session, channel: Any, receive: Any) -> None:
    """Read frames until the client disconnects; the session closes with the socket."""
    max_payload = session.server.max_payload
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            session.close("transport close", notify_client=False)
            return
        if not session.is_open:
            continue  # closing: ignore what is still in flight
        frame = _frame_of(message)
        if frame is None or _too_large(frame, max_payload):
            session.close("transport error", notify_client=False)
            continue
        try:
            session.receive_packet(decode_packet(frame))
        except EngineIOParseError:
            logger.debug("session %s: bad packet, closing", session.sid)
            session.close("parse error", notify_client=False)


def _too_large(frame: Frame, limit: int) -> bool:
    """maxPayload counts bytes, as on long-polling: a text frame by its UTF-8 length.

    A text frame of at most `limit / 4` characters cannot be over, so it is not encoded.
    """
    if len(frame) > limit:
        return True
    if isinstance(frame, bytes) or len(frame) * 4 <= limit:
        return False
    return len(frame.encode("utf-8", "surrogatepass")) > limit


def _frame_of(message: dict[str, Any]) -> Frame | None:
    text = message.get("text")
    if text is not None:
        return text
    return message.get("bytes")


async def _drain_until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass
