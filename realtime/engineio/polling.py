"""The HTTP long-polling transport: the handshake GET, then GETs that wait and POSTs that push."""

from __future__ import annotations

import asyncio
from typing import Any

from ..jsoncodec import dumps
from .cors import PREFLIGHT_HEADERS, cors_headers
from .errors import HandshakeError
from .packets import EngineIOParseError, decode_payload, encode_payload
from .server import EngineServer, header, parse_query
from .session import PollConflict, Session, Transport

TEXT = b"text/plain; charset=UTF-8"


class PayloadTooLarge(Exception):
    pass


async def handle_polling(
    server: EngineServer, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    """ASGI entry for every HTTP request under the mount path."""
    method = scope["method"]
    cors = cors_headers(header(scope, b"origin"), server.cors_allowed_origins)
    if method == "OPTIONS":
        await _respond(send, 204, b"", cors + PREFLIGHT_HEADERS)
        return
    query = parse_query(scope)
    error = server.check_query(query, "polling")
    sid = query.get("sid")
    if error is None and sid is None and method != "GET":
        error = HandshakeError.BAD_HANDSHAKE_METHOD
    if error is None and sid is not None and sid not in server.sessions:
        error = HandshakeError.UNKNOWN_SID
    if error is not None:
        await _respond_error(send, error, cors)
        return
    if sid is None:
        session = server.create_session(scope, Transport.POLLING)
        await _respond(send, 200, server.handshake_frame(session).encode(), cors, TEXT)
        server.start_session(session)
        return
    session = server.sessions[sid]
    if method == "GET":
        await _handle_get(session, receive, send, cors)
    elif method == "POST":
        await _handle_post(session, receive, send, cors)
    else:
        await _respond_error(send, HandshakeError.BAD_REQUEST, cors)


PROBE_GRACE_S = 0.05


async def _handle_get(session: Session, receive: Any, send: Any, cors: list) -> None:
    await session.wait_for_probe(PROBE_GRACE_S)
    try:
        ready = session.begin_poll()
    except PollConflict:
        await _respond_error(send, HandshakeError.BAD_REQUEST, cors)
        return
    if isinstance(ready, asyncio.Future):
        disconnect = asyncio.ensure_future(_wait_disconnect(receive))
        try:
            await asyncio.wait({ready, disconnect}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            disconnect.cancel()
        if not ready.done():
            session.abandon_poll()
            return
        ready = session.end_poll()
    await _respond(send, 200, encode_payload(ready).encode(), cors, TEXT)


async def _handle_post(session: Session, receive: Any, send: Any, cors: list) -> None:
    try:
        session.begin_post()
    except PollConflict:
        await _respond_error(send, HandshakeError.BAD_REQUEST, cors)
        return
    try:
        body = await _read_body(receive, session.server.max_payload)
        packets = decode_payload(body.decode("utf-8"))
    except PayloadTooLarge:
        session.close("transport error", notify_client=False)
        await _respond(send, 413, b"", cors)
        return
    except (EngineIOParseError, UnicodeDecodeError):
        session.close("parse error", notify_client=False)
        await _respond_error(send, HandshakeError.BAD_REQUEST, cors)
        return
    finally:
        session.end_post()
    try:
        session.receive_packets(packets)
    except EngineIOParseError:
        await _respond_error(send, HandshakeError.BAD_REQUEST, cors)
        return
    await _respond(send, 200, b"ok", cors, TEXT)


async def _read_body(receive: Any, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise EngineIOParseError("client went away mid-body")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _wait_disconnect(receive: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _respond_error(send: Any, error: HandshakeError, cors: list) -> None:
    body = dumps({"code": int(error), "message": error.message}).encode()
    await _respond(send, error.status, body, cors, b"application/json")


async def _respond(
    send: Any, status: int, body: bytes, extra: list, content_type: bytes | None = None
) -> None:
    headers = list(extra)
    if content_type is not None:
        headers.append((b"content-type", content_type))
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
