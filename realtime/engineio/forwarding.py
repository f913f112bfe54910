"""Requests for an Engine.IO session that another process owns, over the channel layer.

Any process may receive any request of any session, so no sticky sessions are needed. The
process the client reached (the edge) forwards a long-polling GET or POST to the session's
owner, named by the sid, and the owner answers with the same code that serves its local
requests. A WebSocket upgrade that lands on an edge is relayed frame by frame both ways: the
owner runs the upgrade and the session as usual, its frames travel to the edge and out.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from typing import Any

from .. import metrics
from ..hub import get_hub
from ..tasks import spawn
from .errors import HandshakeError
from .http import (
    TEXT,
    BodyTooLarge,
    ClientGone,
    HttpAnswer,
    read_body,
    respond,
    wait_disconnect,
)
from .packets import NOOP_FRAME, Frame
from .polling import answer_get, answer_post
from .server import EngineServer

logger = logging.getLogger(__name__)

FORWARD = "sio.forward"  # edge -> owner
RELAY = "sio.relay"  # owner -> edge: frames for a relayed WebSocket
FORWARD_TIMEOUT_S = 5.0
# an edge that shuts down ends its forwarded long-polls; an answer the owner already sent
# is still taken if it arrives within this
LATE_ANSWER_S = 0.5
NOOP_ANSWER = {"status": 200, "body": NOOP_FRAME.encode(), "content_type": TEXT}

_abandon_signals: dict[tuple[str, str], asyncio.Future[None]] = {}  # owner: waiting polls
_owner_relays: dict[tuple[str, str], asyncio.Queue[dict[str, Any]]] = {}  # owner: frames in
_edge_relays: dict[str, asyncio.Queue[Frame | int | None]] = {}  # edge: frames out, close code
_edge_relay_owners: dict[str, tuple[str, dict[str, Any]]] = {}  # edge: owner, message base
_edge_polls: set[asyncio.Future[None]] = set()  # edge: forwarded GETs, set to end them
_edge = {"relays": True, "polls": True}  # what this process still serves for others


def install() -> None:
    """Register the layer message handlers (both sides) with this process's hub."""
    hub = get_hub()
    hub.link.register(FORWARD, _on_forward)
    hub.link.register(RELAY, _on_relay)


# ----- the edge: the process the client reached ----------------------------------------


async def forward_polling(
    server: EngineServer, owner: str, sid: str, method: str, receive: Any, send: Any, cors: list
) -> None:
    """Serve a long-polling request of a session owned by process `owner`."""
    base: dict[str, Any] = {"type": FORWARD, "mount": server.mount, "sid": sid}
    reply: dict[str, Any] | None
    logger.debug("forwarding %s of session %s to process %s", method, sid, owner)
    metrics.FORWARDED.labels(method.lower() if method in ("GET", "POST") else "other").inc()
    if method == "GET":
        got = await _forward_get(server, owner, base, receive)
        if got is False:
            return  # the client went away
        reply = got if isinstance(got, dict) else None
    elif method == "POST":
        try:
            body = await read_body(receive, server.max_payload)
        except ClientGone:
            return
        except BodyTooLarge:
            body = None
        reply = await get_hub().link.request(
            owner, {**base, "op": "post", "body": body}, FORWARD_TIMEOUT_S
        )
    else:
        await respond(send, HttpAnswer.error(HandshakeError.BAD_REQUEST), cors)
        return
    await respond(send, _answer_of(reply), cors)


async def _forward_get(
    server: EngineServer, owner: str, base: dict[str, Any], receive: Any
) -> dict[str, Any] | bool | None:
    """The owner's reply; None if it never came, False if the client left first.

    While this process shuts down (`close_edge`) the poll ends early with a NOOP, so the
    client polls again through a live process: the owner keeps its frames for that poll."""
    if not _edge["polls"]:
        return NOOP_ANSWER
    hub = get_hub()
    request_id = secrets.token_hex(8)
    timeout = server.ping_interval_s + server.ping_timeout_s + FORWARD_TIMEOUT_S
    request = asyncio.ensure_future(
        hub.link.request(owner, {**base, "op": "get", "request": request_id}, timeout)
    )
    gone = asyncio.ensure_future(wait_disconnect(receive))
    closing: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    _edge_polls.add(closing)
    try:
        waiting: set[asyncio.Future[Any]] = {request, gone, closing}
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
        gone.cancel()
        if request.done():
            return request.result()
        await hub.link.send_to_process(owner, {**base, "op": "abandon", "request": request_id})
        if not closing.done():
            request.cancel()
            return False
        try:  # frames the owner took before the abandon arrived are on their way
            return await asyncio.wait_for(request, LATE_ANSWER_S)
        except TimeoutError:
            return NOOP_ANSWER
    finally:
        _edge_polls.discard(closing)


def _answer_of(reply: dict[str, Any] | None) -> HttpAnswer:
    if reply is None:  # the owner is gone: its sessions are too
        return HttpAnswer.error(HandshakeError.UNKNOWN_SID)
    return HttpAnswer(reply["status"], reply["body"], reply["content_type"])


async def relay_websocket(
    server: EngineServer, owner: str, sid: str, channel: Any, receive: Any
) -> None:
    """Relay an accepted WebSocket for a session owned by `owner` until either side closes."""
    if not _edge["relays"]:  # shutting down: the client stays on long-polling, elsewhere
        await channel(None)
        return
    hub = get_hub()
    relay_id = secrets.token_hex(8)
    logger.debug("relaying a WebSocket of session %s to process %s", sid, owner)
    metrics.FORWARDED.labels("websocket").inc()
    outgoing: asyncio.Queue[Frame | int | None] = asyncio.Queue()
    _edge_relays[relay_id] = outgoing
    writer = spawn(_write_relayed(outgoing, channel))
    base = {"type": FORWARD, "mount": server.mount, "sid": sid, "relay": relay_id}
    _edge_relay_owners[relay_id] = (owner, base)
    try:
        await hub.link.ready()  # the owner answers on our channel: it must be heard first
        await hub.link.send_to_process(owner, {**base, "op": "ws_open", "edge": hub.channel})
        while True:
            message = await receive()
            inbound = {key: message[key] for key in ("type", "text", "bytes") if key in message}
            await hub.link.send_to_process(owner, {**base, "op": "ws_in", "message": inbound})
            if message["type"] == "websocket.disconnect":
                return
    finally:
        _edge_relays.pop(relay_id, None)
        _edge_relay_owners.pop(relay_id, None)
        writer.cancel()


async def _write_relayed(outgoing: asyncio.Queue[Frame | int | None], channel: Any) -> None:
    """Write the owner's frames to the client in order; a close code (or None) closes it."""
    try:
        while True:
            frame = await outgoing.get()
            if frame is None or isinstance(frame, int):
                await channel(None, frame or 1000)
                return
            await channel(frame)
    except Exception:  # a slow client closed by the channel, or the socket gone
        logger.debug("relay: writing to the client failed", exc_info=True)
        await channel(None)


def refuse_new_relays() -> None:
    """This process begins to shut down: an upgrade relayed now could be cut mid-probe, which
    leaves socket.io-client's long-polling paused; refused at once, it keeps polling."""
    _edge["relays"] = False


async def close_edge(timeout: float = 2 * LATE_ANSWER_S) -> None:
    """This process shuts down: stop serving other processes' sessions, losing nothing.

    Forwarded long-polls end now (with what the owner already answered, else a NOOP) and
    new ones get a NOOP at once: the client polls again, through a live process. WebSockets
    relayed here are closed: the client reconnects, and the owner, told of the disconnect
    as usual, ends the session at once instead of pinging a dead relay until its timeout."""
    _edge["relays"] = _edge["polls"] = False
    for outgoing in _edge_relays.values():
        outgoing.put_nowait(None)
    gone = {"type": "websocket.disconnect", "code": 1001}  # told now: this process is leaving
    await asyncio.gather(
        *(
            get_hub().link.send_to_process(owner, {**base, "op": "ws_in", "message": gone})
            for owner, base in _edge_relay_owners.values()
        )
    )
    for closing in list(_edge_polls):
        if not closing.done():
            closing.set_result(None)
    deadline = asyncio.get_running_loop().time() + timeout
    while _edge_polls and asyncio.get_running_loop().time() < deadline:
        await asyncio.sleep(0.02)


def _on_relay(message: dict[str, Any]) -> None:
    outgoing = _edge_relays.get(message["relay"])
    if outgoing is not None:
        frame = message["frame"]
        outgoing.put_nowait(frame if frame is not None else message.get("code", 1000))


# ----- the owner: the process holding the session --------------------------------------


def _on_forward(message: dict[str, Any]) -> None:
    op = message["op"]
    if op == "ws_in":  # in order, synchronously: frames must not overtake each other
        inbound = _owner_relays.get((message["sid"], message["relay"]))
        if inbound is not None:
            inbound.put_nowait(message["message"])
    elif op == "abandon":
        signal = _abandon_signals.pop((message["sid"], message["request"]), None)
        if signal is not None and not signal.done():
            signal.set_result(None)
    else:
        # registered now, not in the task: the layer may hand over the relay's first frames
        # (or the poll's abandon) before the task runs
        if op == "ws_open":
            _owner_relays[(message["sid"], message["relay"])] = asyncio.Queue()
        elif op == "get":
            loop = asyncio.get_running_loop()
            _abandon_signals[(message["sid"], message["request"])] = loop.create_future()
        spawn(_serve_forwarded(message))


async def _serve_forwarded(message: dict[str, Any]) -> None:
    hub = get_hub()
    server = hub.engines.get(message["mount"])
    session = server.sessions.get(message["sid"]) if server is not None else None
    op = message["op"]
    if op == "ws_open":
        key = (message["sid"], message["relay"])
        try:
            await _serve_relayed_websocket(session, message, _owner_relays[key])
        finally:
            _owner_relays.pop(key, None)
        return
    answer: HttpAnswer | None
    if op == "get":
        key = (message["sid"], message["request"])
        try:
            answer = await _serve_forwarded_get(session, _abandon_signals[key])
        finally:
            _abandon_signals.pop(key, None)
        if answer is None:
            return  # the client left; the edge no longer waits
    elif session is None:
        answer = HttpAnswer.error(HandshakeError.UNKNOWN_SID)
    elif message["body"] is None:
        answer = answer_post(session, b"x" * (session.server.max_payload + 1))  # too large
    else:
        answer = answer_post(session, message["body"])
    hub.link.reply(
        message,
        {"status": answer.status, "body": answer.body, "content_type": answer.content_type},
    )


async def _serve_forwarded_get(session: Any, abandoned: asyncio.Future[None]) -> HttpAnswer | None:
    if session is None:
        return HttpAnswer.error(HandshakeError.UNKNOWN_SID)
    return await answer_get(session, abandoned)


class RemoteWebSocket:
    """The send side of a WebSocket that lives on another process (the edge)."""

    def __init__(self, edge_channel: str, relay_id: str) -> None:
        self.edge_channel = edge_channel
        self.relay_id = relay_id
        self.closed = False

    async def __call__(self, frame: Frame | None, code: int = 1000) -> None:
        if self.closed:
            return
        self.closed = frame is None
        message = {"type": RELAY, "relay": self.relay_id, "frame": frame, "code": code}
        await get_hub().layer.send(self.edge_channel, message)


async def _serve_relayed_websocket(
    session: Any, message: dict[str, Any], inbound: asyncio.Queue[dict[str, Any]]
) -> None:
    from .websocket import upgrade  # websocket builds on this module for the edge side

    channel = RemoteWebSocket(message["edge"], message["relay"])
    if session is None:
        await channel(None)
        return
    await upgrade(session, channel, inbound.get)
