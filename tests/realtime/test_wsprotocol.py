"""realtime.wsprotocol: the opening handshake from uvicorn's own parse, on a real uvicorn.

Each test serves a small ASGI app with uvicorn configured as `serve` configures it and talks to
it over a socket, raw bytes where the handshake itself is under test. Where both can answer,
the result is held equal to uvicorn's own `websockets-sansio` protocol's.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import websockets
from websockets.frames import Frame, Opcode

from realtime.wsprotocol import MAX_EARLY_BYTES, WebSocketProtocol
from tests.support import inprocess_uvicorn

App = Callable[[dict, Any, Any], Awaitable[None]]
GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


@contextlib.asynccontextmanager
async def serving(app: App, ws: Any = None) -> AsyncIterator[int]:
    """uvicorn on a free port, as `serve` configures it (its WebSocket protocol: `ws`)."""
    async with inprocess_uvicorn.serving(app, ws=ws) as (port, config):
        if ws is None:
            assert config.ws_protocol_class is WebSocketProtocol
        yield port


def upgrade_request(
    target: str = "/", *, method: str = "GET", extra: str = "", **fields: str
) -> bytes:
    headers = {
        "Host": "127.0.0.1",
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
        "Sec-WebSocket-Version": "13",
        **{name.replace("_", "-"): value for name, value in fields.items()},
    }
    lines = [f"{method} {target} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in headers.items() if value]
    return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode()


async def exchange(port: int, request: bytes, then: bytes = b"") -> tuple[bytes, bytes]:
    """Send `request` (and `then`, before any answer), return the answer's head and what
    follows it within a moment of the connection closing or going quiet."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    if then:
        await writer.drain()
        await asyncio.sleep(0.05)  # after the request, as its own read
        writer.write(then)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    rest = b""
    with contextlib.suppress(TimeoutError):
        rest = await asyncio.wait_for(reader.read(65536), 0.3)
    writer.close()
    return head, rest


def status_of(head: bytes) -> int:
    return int(head.split(b" ", 2)[1])


def header_of(head: bytes, name: bytes) -> bytes | None:
    for line in head.split(b"\r\n")[1:]:
        key, _, value = line.partition(b":")
        if key.strip().lower() == name.lower():
            return value.strip()
    return None


async def until_disconnect(receive: Any) -> None:
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def channel_accepted(receive: Any, send: Any, *, after: float = 0.0) -> Any:
    """A WebSocketChannel accepted as the sessions accept theirs, `after` seconds past the
    connect (for a client's frames to arrive before the answer)."""
    from realtime.engineio.websocket import WebSocketChannel

    await receive()  # websocket.connect
    await asyncio.sleep(after)
    channel = WebSocketChannel(send, max_backlog=1_000_000)
    await channel.accept()
    return channel


def accepting(scopes: list[dict], *, subprotocol: str | None = None) -> App:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()
        scopes.append(scope)
        await send({"type": "websocket.accept", "subprotocol": subprotocol})
        await until_disconnect(receive)

    return app


async def test_the_handshake_is_answered_as_rfc_6455_asks() -> None:
    scopes: list[dict] = []
    request = upgrade_request("/socket.io/?EIO=4&transport=websocket")
    key = header_of(request, b"Sec-WebSocket-Key")
    assert key is not None
    async with serving(accepting(scopes)) as port:
        head, _ = await exchange(port, request)
    assert status_of(head) == 101
    expected = base64.b64encode(hashlib.sha1(key + GUID).digest())
    assert header_of(head, b"Sec-WebSocket-Accept") == expected
    assert header_of(head, b"Upgrade") == b"websocket"
    assert header_of(head, b"Connection") == b"Upgrade"
    assert header_of(head, b"Sec-WebSocket-Extensions") is None  # none negotiated
    assert header_of(head, b"Date") is not None


@pytest.mark.parametrize(
    "target", ["/socket.io/?EIO=4&transport=websocket", "/a%20b/%C3%A9?x=%20&y", "/"]
)
async def test_the_scope_is_the_one_uvicorns_own_protocol_gives(target: str) -> None:
    scopes: list[dict] = []
    request = upgrade_request(
        target,
        Sec_WebSocket_Protocol="chat, superchat",
        Origin="http://example.com",
        X_Extra="a: b",
    )
    for ws in (None, "websockets-sansio"):
        async with serving(accepting(scopes), ws) as port:
            head, _ = await exchange(port, request)
            assert status_of(head) == 101
    ours, uvicorns = scopes
    for scope in (ours, uvicorns):
        del scope["client"]  # another port each time
        del scope["server"]
    assert ours == uvicorns
    assert ours["subprotocols"] == ["chat", "superchat"]


async def test_the_accepted_subprotocol_and_headers_go_in_the_answer() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send(
            {"type": "websocket.accept", "subprotocol": "chat", "headers": [(b"x-hello", b"1")]}
        )
        await receive()

    async with serving(app) as port:
        head, _ = await exchange(port, upgrade_request(Sec_WebSocket_Protocol="chat"))
    assert status_of(head) == 101
    assert header_of(head, b"Sec-WebSocket-Protocol") == b"chat"
    assert header_of(head, b"x-hello") == b"1"


@pytest.mark.parametrize(
    "header", [(b"x-bad", b"a\r\nInjected: 1"), (b"x:bad", b"1"), (b"", b"1"), (b"x-nul", b"\0")]
)
async def test_a_bad_header_in_the_accept_is_a_500_not_sent(header: tuple[bytes, bytes]) -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept", "headers": [header]})

    async with serving(app) as port:
        head, _ = await exchange(port, upgrade_request())
    assert status_of(head) == 500
    assert b"Injected" not in head


@pytest.mark.parametrize(
    ("fields", "method", "status", "header"),
    [
        ({"Sec_WebSocket_Key": ""}, "GET", 400, None),
        ({"Sec_WebSocket_Key": "c2hvcnQ="}, "GET", 400, None),  # 5 bytes, not 16
        ({"Sec_WebSocket_Key": "not base64!!"}, "GET", 400, None),
        ({"Sec_WebSocket_Version": ""}, "GET", 426, (b"Sec-WebSocket-Version", b"13")),
        ({"Sec_WebSocket_Version": "8"}, "GET", 426, (b"Sec-WebSocket-Version", b"13")),
        ({}, "POST", 405, (b"Allow", b"GET")),
    ],
)
async def test_an_invalid_handshake_is_refused_and_never_reaches_the_app(
    fields: dict[str, str], method: str, status: int, header: tuple[bytes, bytes] | None
) -> None:
    scopes: list[dict] = []
    async with serving(accepting(scopes)) as port:
        head, _ = await exchange(port, upgrade_request(method=method, **fields))
    assert status_of(head) == status
    if header is not None:
        assert header_of(head, header[0]) == header[1]
    assert scopes == []


async def test_two_keys_are_refused() -> None:
    scopes: list[dict] = []
    request = upgrade_request(extra="Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")
    async with serving(accepting(scopes)) as port:
        head, _ = await exchange(port, request)
    assert status_of(head) == 400
    assert scopes == []


async def test_a_close_before_accept_is_still_uvicorns_403() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.close", "code": 1008})

    async with serving(app) as port:
        head, _ = await exchange(port, upgrade_request())
    assert status_of(head) == 403


async def test_frames_sent_before_the_answer_are_read_after_the_accept() -> None:
    heard: list[dict] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(0.2)  # the client's frame arrives before the accept
        await send({"type": "websocket.accept"})
        heard.append(await receive())
        await send({"type": "websocket.send", "text": "echo " + heard[-1]["text"]})
        await receive()

    early = Frame(Opcode.TEXT, b"early").serialize(mask=True)
    async with serving(app) as port:
        head, rest = await exchange(port, upgrade_request(), then=early)
    assert status_of(head) == 101
    assert heard == [{"type": "websocket.receive", "text": "early"}]
    assert rest == Frame(Opcode.TEXT, b"echo early").serialize(mask=False)


async def test_too_much_before_the_answer_closes_the_connection() -> None:
    accepted: list[bool] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await asyncio.sleep(0.3)
        with contextlib.suppress(Exception):
            await send({"type": "websocket.accept"})
            accepted.append(True)

    flood = Frame(Opcode.BINARY, b"x" * (MAX_EARLY_BYTES + 1)).serialize(mask=True)
    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(upgrade_request())
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(flood)
        answer = await asyncio.wait_for(reader.read(), 5)  # EOF: closed
        writer.close()
        await asyncio.sleep(0.4)
    assert answer == b""
    assert accepted == []


async def test_a_stock_client_talks_both_ways_and_closes_cleanly() -> None:
    async def app(scope: dict, receive: Any, send: Any) -> None:
        await receive()
        await send({"type": "websocket.accept"})
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return
            if "text" in message:
                await send({"type": "websocket.send", "text": message["text"].upper()})
            else:
                await send({"type": "websocket.send", "bytes": message["bytes"][::-1]})

    async with serving(app) as port:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            await client.send("hello")
            assert await asyncio.wait_for(client.recv(), 5) == "HELLO"
            await client.send(b"\x01\x02")
            assert await asyncio.wait_for(client.recv(), 5) == b"\x02\x01"
        assert client.close_code == 1000


async def test_the_direct_writer_is_held_when_writing_pauses_and_when_the_client_closes() -> None:
    """The protocol `serve` runs watches its direct writer: backpressure and a close make the
    next frame ask the protocol again, so a paused connection's frames queue in the session
    (where its bound is) and nothing is written after a close."""
    seen: list[Any] = []
    protocols: list[Any] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        channel = await channel_accepted(receive, send)
        writer, protocol = channel.direct_writer, send.__self__
        seen.append(protocol.direct_writer is writer and writer.watched)
        seen.append(channel.write_now("1") and writer.ready)
        protocol.pause_writing()  # as the transport calls it past its high-water mark
        seen.append((writer.ready, channel.write_now("never")))
        protocol.resume_writing()
        seen.append(channel.write_now("2") and writer.ready)
        assert (await receive())["type"] == "websocket.disconnect"  # the client's close
        seen.append((writer.ready, channel.write_now("after the close")))
        protocols.append(protocol)

    async with serving(app) as port:
        async with websockets.connect(f"ws://127.0.0.1:{port}/") as client:
            received = [await asyncio.wait_for(client.recv(), 5) for _ in range(2)]
        for _ in range(100):  # the app saw the close, and the connection is lost
            if protocols and protocols[0].direct_writer is None:
                break
            await asyncio.sleep(0.01)
    assert received == ["1", "2"]
    assert seen == [True, True, (False, False), True, (False, False)]
    assert protocols[0].direct_writer is None  # it let go of its writer: no cycle to collect


async def test_the_answer_waits_for_the_first_frames_and_goes_out_with_them() -> None:
    """With a direct writer, the 101 is corked: the Engine.IO open packet written in the same
    turn goes out in the same write (one segment, one wake-up of the client), and nothing
    the protocol writes itself can overtake it."""
    corked: list[list[bytes]] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        channel = await channel_accepted(receive, send)
        assert channel.write_now("0 open")
        corked.append(list(channel.direct_writer.corked))  # both, still in this turn
        await until_disconnect(receive)

    async with serving(app) as port:
        head, rest = await exchange(port, upgrade_request())
    assert status_of(head) == 101
    assert rest.startswith(b"\x81\x060 open")  # the frame, right after the head
    assert len(corked) == 1 and len(corked[0]) == 2
    assert corked[0][0].startswith(b"HTTP/1.1 101 ") and corked[0][1] == b"\x81\x060 open"


async def test_what_the_protocol_answers_itself_follows_the_held_answer() -> None:
    """A ping sent before the answer is answered (uvicorn writes the pong itself) after the
    101 the direct writer holds, and the first frame after both."""

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        channel = await channel_accepted(receive, send, after=0.2)  # the ping arrives first
        channel.write_now("0 open")
        await until_disconnect(receive)

    ping = Frame(Opcode.PING, b"hi").serialize(mask=True)
    async with serving(app) as port:
        head, rest = await exchange(port, upgrade_request(), then=ping)
    assert status_of(head) == 101
    pong = Frame(Opcode.PONG, b"hi").serialize(mask=False)
    assert rest == pong + Frame(Opcode.TEXT, b"0 open").serialize(mask=False)
