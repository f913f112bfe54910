"""What the fuzz cases share: the target server, raw WebSocket and HTTP helpers, outcomes.

Every helper is bounded in time: a server that does not answer, or does not close when it
must, makes the case fail as `Unclean`, never hang.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

STEP_TIMEOUT_S = 5.0

# outcomes a case may end in: all of them clean
HTTP_ERROR = "http-error"  # 4xx with the Engine.IO JSON body (413: empty, as the reference)
REFUSED = "refused"  # a WebSocket handshake answered 4xx
CLOSED = "closed"  # the server closed the connection or the Engine.IO session
CONNECT_ERROR = "connect-error"  # a Socket.IO CONNECT_ERROR packet
IGNORED = "ignored"  # harmless input ignored: the same connection was then served again
OUTCOMES = (HTTP_ERROR, REFUSED, CLOSED, CONNECT_ERROR, IGNORED)

# the Engine.IO HTTP errors: (status, code)
UNKNOWN_TRANSPORT = (400, 0)
UNKNOWN_SID = (400, 1)
BAD_HANDSHAKE_METHOD = (400, 2)
BAD_REQUEST = (400, 3)
UNSUPPORTED_PROTOCOL_VERSION = (400, 5)


class Unclean(AssertionError):
    """A case did not end in a clean error or close (or the server misbehaved)."""


@dataclass(frozen=True)
class Target:
    """A live server and the namespaces the cases use on it.

    Cases misbehave on `fuzz_ns`; the liveness probe connects `probe_ns` and expects an ack
    to `probe_event` that `probe_ok` accepts. `auth_ns` refuses a CONNECT without credentials.
    """

    url: str
    max_payload: int
    fuzz_ns: str
    probe_ns: str
    probe_event: str
    probe_args: list[Any]
    probe_ok: Callable[[list[Any]], bool]
    auth_ns: str
    fuzz_auth: dict[str, Any] = field(default_factory=dict)
    probe_auth: dict[str, Any] = field(default_factory=dict)
    echoes: bool = False  # fuzz_ns has an `echo` event that acks its arguments back

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://", 1) + "/socket.io/"

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").split(":")
        return host, int(port)


Case = Callable[[Target, random.Random, httpx.AsyncClient], Awaitable[str]]


def wire_json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def connect_frame(namespace: str, auth: dict[str, Any] | None = None) -> str:
    prefix = "" if namespace == "/" else namespace + ","
    return "40" + prefix + (wire_json(auth) if auth else "")


# ----- WebSocket ---------------------------------------------------------------------------


async def ws_open(
    target: Target, query: str = "EIO=4&transport=websocket", headers: Any = None
) -> ClientConnection:
    """A raw Engine.IO WebSocket; the handshake frame is read and checked."""
    return (await ws_handshake(target, query, headers))[0]


async def ws_handshake(
    target: Target, query: str = "EIO=4&transport=websocket", headers: Any = None
) -> tuple[ClientConnection, dict[str, Any]]:
    """`ws_open`, and the handshake's content."""
    ws = await connect(
        f"{target.ws_url}?{query}",
        max_size=None,
        compression=None,
        open_timeout=STEP_TIMEOUT_S,
        close_timeout=1,
        additional_headers=headers,
        ping_interval=None,
    )
    first = await recv(ws)
    if not (isinstance(first, str) and first.startswith("0{")):
        await ws.close()
        raise Unclean(f"handshake frame {first!r}")
    return ws, json.loads(first[1:])


async def ws_refused(target: Target, query: str, headers: Any = None) -> str:
    """A WebSocket handshake that must be refused with a 4xx (or accepted, for a query the
    server may accept: then the session is used and closed)."""
    try:
        ws = await ws_open(target, query, headers)
    except InvalidStatus as refusal:
        status = refusal.response.status_code
        if not 400 <= status < 500:
            raise Unclean(f"WebSocket handshake answered {status}") from None
        return REFUSED
    except InvalidHandshake as exc:
        raise Unclean(f"WebSocket handshake broke: {exc!r}") from None
    await probe(ws, target)
    await ws.close()
    return IGNORED


async def recv(ws: ClientConnection, timeout: float = STEP_TIMEOUT_S) -> str | bytes:
    """The next frame that is not a server PING (which is answered)."""
    while True:
        try:
            frame = await asyncio.wait_for(ws.recv(), timeout)
        except TimeoutError:
            raise Unclean("no frame from the server in time") from None
        if frame == "2":
            await ws.send("3")
            continue
        return frame


async def read_until(
    ws: ClientConnection, match: Callable[[str | bytes], bool], timeout: float = STEP_TIMEOUT_S
) -> str | bytes:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        frame = await recv(ws, max(deadline - loop.time(), 0.01))
        if match(frame):
            return frame


async def expect_closed(ws: ClientConnection, timeout: float = STEP_TIMEOUT_S) -> str:
    """The server must close this WebSocket (after whatever frames it still sends)."""
    try:
        while True:
            await recv(ws, timeout)
    except ConnectionClosed:
        return CLOSED
    except Unclean:
        raise Unclean("the server did not close the connection after a violation") from None


_ack_ids = iter(range(10**6, 10**9))


async def probe(ws: ClientConnection, target: Target) -> None:
    """The connection still works: CONNECT the probe namespace (ignored if connected) and get
    the probe event's ack."""
    ns, ack = target.probe_ns, next(_ack_ids)
    await ws.send(connect_frame(ns, target.probe_auth))
    await ws.send(f"42{ns},{ack}" + wire_json([target.probe_event, *target.probe_args]))
    prefix = f"43{ns},{ack}"
    try:
        frame = await read_until(ws, lambda f: isinstance(f, str) and f.startswith(prefix))
    except ConnectionClosed:
        raise Unclean("the server closed a connection it should have kept") from None
    args = json.loads(str(frame)[len(prefix) :])
    if not target.probe_ok(args):
        raise Unclean(f"probe ack {args!r}")


async def fuzz_socket(target: Target) -> ClientConnection:
    """A WebSocket connected to the fuzzed namespace."""
    ws = await ws_open(target)
    ns = target.fuzz_ns
    await ws.send(connect_frame(ns, target.fuzz_auth))
    frame = await read_until(ws, lambda f: isinstance(f, str) and f.startswith(("40", "44")))
    if not str(frame).startswith(f"40{ns},"):
        raise Unclean(f"CONNECT to {ns} answered {frame!r}")
    return ws


async def send_all(ws: ClientConnection, frames: list[str | bytes]) -> None:
    try:
        for frame in frames:
            await ws.send(frame)
    except ConnectionClosed:
        pass  # closed while we were still sending: the close is checked next


async def ws_violation(target: Target, frames: list[str | bytes], connected: bool = True) -> str:
    """Frames that break the protocol: the server must close the connection."""
    ws = await (fuzz_socket(target) if connected else ws_open(target))
    try:
        await send_all(ws, frames)
        return await expect_closed(ws)
    finally:
        await ws.close()


async def ws_harmless(target: Target, frames: list[str | bytes], connected: bool = True) -> str:
    """Frames the server ignores: the same connection is served right after."""
    ws = await (fuzz_socket(target) if connected else ws_open(target))
    try:
        await send_all(ws, frames)
        await probe(ws, target)
        return IGNORED
    finally:
        await ws.close()


async def ws_either(target: Target, frames: list[str | bytes]) -> str:
    """Frames of unknown validity (mutants): closed, or ignored and still served."""
    ws = await fuzz_socket(target)
    try:
        await send_all(ws, frames)
        try:
            await probe(ws, target)
        except Unclean:
            if ws.state.name in ("CLOSING", "CLOSED"):
                return CLOSED
            raise
        return IGNORED
    finally:
        await ws.close()


async def ws_connect_error(target: Target, frame: str, namespace: str, expected: Any) -> str:
    """A CONNECT that must get CONNECT_ERROR `expected` (None: any payload), then the
    connection is still served."""
    ws = await ws_open(target)
    try:
        await ws.send(frame)
        prefix = "44" + ("" if namespace == "/" else namespace + ",")
        got = await read_until(ws, lambda f: isinstance(f, str) and f.startswith(("40", "44")))
        if not str(got).startswith(prefix):
            raise Unclean(f"{frame[:80]!r} answered {str(got)[:200]!r}")
        payload = json.loads(str(got)[len(prefix) :])
        if expected is not None and payload != expected:
            raise Unclean(f"CONNECT_ERROR {payload!r}, expected {expected!r}")
        await probe(ws, target)
        return CONNECT_ERROR
    finally:
        await ws.close()


# ----- HTTP long-polling -------------------------------------------------------------------


def polling_url(target: Target, sid: str | None = None) -> str:
    url = f"{target.url}/socket.io/?EIO=4&transport=polling"
    return url if sid is None else f"{url}&sid={sid}"


def expect_http_error(response: httpx.Response, *allowed: tuple[int, int]) -> str:
    """A 4xx with the Engine.IO error body `{"code", "message"}` (one of `allowed` if given)."""
    status = response.status_code
    if status == 413 and not allowed:
        return HTTP_ERROR
    try:
        body = response.json()
    except ValueError:
        text = response.text[:200]
        raise Unclean(f"HTTP {status} with a body that is not JSON: {text!r}") from None
    if not (400 <= status < 500 and isinstance(body, dict) and set(body) == {"code", "message"}):
        raise Unclean(f"HTTP {status} {body!r}")
    if allowed and (status, body["code"]) not in allowed:
        raise Unclean(f"HTTP {status} {body!r}, expected one of {allowed}")
    return HTTP_ERROR


async def polling_open(target: Target, http: httpx.AsyncClient) -> str:
    response = await http.get(polling_url(target))
    if response.status_code != 200 or not response.text.startswith("0{"):
        raise Unclean(f"polling handshake {response.status_code} {response.text[:200]!r}")
    return json.loads(response.text[1:])["sid"]


async def polling_close(target: Target, http: httpx.AsyncClient, sid: str) -> None:
    """End a session the case opened (it may be gone already: then a 400 is fine)."""
    response = await http.post(polling_url(target, sid), content=b"1")
    if response.status_code != 200:
        expect_http_error(response, UNKNOWN_SID, BAD_REQUEST)


async def polling_gone(target: Target, http: httpx.AsyncClient, sid: str) -> str:
    """The session was closed by the server: its next poll is refused (or gets CLOSE)."""
    response = await http.get(polling_url(target, sid))
    if response.status_code == 200:
        if response.text.split("\x1e")[-1] != "1":
            raise Unclean(f"a closed session answered a poll with {response.text[:200]!r}")
        return CLOSED
    expect_http_error(response, UNKNOWN_SID, BAD_REQUEST)
    return CLOSED
