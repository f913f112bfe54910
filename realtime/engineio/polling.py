"""The HTTP long-polling transport: the handshake GET, then GETs that wait and POSTs that push.

`answer_get` and `answer_post` hold the transport's logic for one session; they serve a request
that reached the owning process directly, and one forwarded to it by another process.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

from ..hub import get_hub
from ..ids import PROCESS_ID, owner_of
from .cors import PREFLIGHT_HEADERS, cors_headers
from .errors import HandshakeError
from .http import (
    BodyTooLarge,
    ClientGone,
    HttpAnswer,
    read_body,
    respond,
    wait_disconnect,
)
from .packets import EngineIOParseError, decode_payload, encode_payload
from .server import EngineServer, header, parse_query
from .session import PollConflict, Session, Transport

PROBE_GRACE_S = 0.05


async def handle_polling(
    server: EngineServer, scope: dict[str, Any], receive: Any, send: Any
) -> None:
    """ASGI entry for every HTTP request under the mount path."""
    method = scope["method"]
    cors = cors_headers(header(scope, b"origin"), server.cors_allowed_origins)
    if method == "OPTIONS":
        await respond(send, HttpAnswer(204), cors + PREFLIGHT_HEADERS)
        return
    query = parse_query(scope)
    error = server.check_query(query, "polling")
    sid = query.get("sid")
    if error is None and sid is None and method != "GET":
        error = HandshakeError.BAD_HANDSHAKE_METHOD
    if error is None and sid is None and not server.admits(scope):
        error = HandshakeError.FORBIDDEN  # MAX_CONNECTIONS_PER_IP
    if error is not None:
        await respond(send, HttpAnswer.error(error), cors)
        return
    if sid is None:
        created = server.create_session(scope, Transport.POLLING)
        server.start_session(created)  # heartbeat from creation on, as the reference server
        await respond(send, HttpAnswer.text(server.handshake_frame(created)), cors)
        return
    session = server.sessions.get(sid)
    if session is None:
        owner = owner_of(sid)
        if owner is not None and owner != PROCESS_ID and get_hub().layer is not None:
            from .forwarding import forward_polling  # the forwarding layer builds on this module

            await forward_polling(server, owner, sid, method, receive, send, cors)
        else:
            await respond(send, HttpAnswer.error(HandshakeError.UNKNOWN_SID), cors)
        return
    if method == "GET":
        answer = await answer_get(session, wait_disconnect(receive))
    elif method == "POST":
        answer = await _local_post(session, receive)
    else:
        answer = HttpAnswer.error(HandshakeError.BAD_REQUEST)
    if answer is not None:
        await respond(send, answer, cors)


async def answer_get(session: Session, client_gone: Awaitable[Any]) -> HttpAnswer | None:
    """One long-polling GET: wait for frames (or a NOOP); None if the client left first."""
    await session.wait_for_probe(PROBE_GRACE_S)
    gone = asyncio.ensure_future(client_gone)
    try:
        try:
            ready = session.begin_poll()
        except PollConflict:
            return HttpAnswer.error(HandshakeError.BAD_REQUEST)
        if isinstance(ready, asyncio.Future):
            await asyncio.wait({ready, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not ready.done():
                session.abandon_poll()
                return None
            ready = session.end_poll()
        return HttpAnswer.text(encode_payload(ready))
    finally:
        gone.cancel()


async def _local_post(session: Session, receive: Any) -> HttpAnswer | None:
    try:
        session.begin_post()
    except PollConflict:
        return HttpAnswer.error(HandshakeError.BAD_REQUEST)
    try:
        body = await read_body(receive, session.server.max_payload)
    except BodyTooLarge:
        session.end_post()
        session.close("transport error", notify_client=False)
        return HttpAnswer(413)
    except ClientGone:
        session.end_post()
        return None
    return answer_post(session, body, already_begun=True)


def answer_post(session: Session, body: bytes, *, already_begun: bool = False) -> HttpAnswer:
    """One long-polling POST: decode the payload and hand its packets to the session."""
    if not already_begun:
        try:
            session.begin_post()
        except PollConflict:
            return HttpAnswer.error(HandshakeError.BAD_REQUEST)
    try:
        if len(body) > session.server.max_payload:
            session.close("transport error", notify_client=False)
            return HttpAnswer(413)
        packets = decode_payload(body.decode("utf-8"))
        session.receive_packets(packets)
    except (EngineIOParseError, UnicodeDecodeError):
        session.close("parse error", notify_client=False)
        return HttpAnswer.error(HandshakeError.BAD_REQUEST)
    finally:
        session.end_post()
    return HttpAnswer.text("ok")
