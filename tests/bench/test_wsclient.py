"""The load generator's own WebSocket client (bench/loadgen/wsclient.mjs) against the
`websockets` library's server: the handshake, masking, the three length forms, fragments,
ping and close, a refused and a forged upgrade; and the byte readers the workers use."""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import ServerConnection, serve
from websockets.http11 import Request, Response

from tests.support.loadgen_js import run_module

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"  # RFC 6455's, for Sec-WebSocket-Accept

# connects to argv[1], sends "héllo" once open, prints what it got and how it closed
CLIENT = """
import { WebSocketClient } from "%(loadgen)s/wsclient.mjs";
const ws = new WebSocketClient(process.argv[1]);
const got = [];
ws.onopen = () => ws.send("héllo");
ws.onmessage = (buffer, start, end, receivedAt) => {
  got.push({ text: buffer.toString("utf8", start, end), stamped: receivedAt > 0 });
};
ws.onclose = (error) => console.log(JSON.stringify({ got, error: error && error.message }));
"""

READERS = """
import { fieldIs, numberAfter } from "%(loadgen)s/client.mjs";
const b = (s) => Buffer.from(s);
const frame = b('42/v1,["message",{"text":"p:0","sentAt":1234.5678,"seq":42}]');
const end = frame.length;
console.log(JSON.stringify([
  numberAfter(frame, 0, end, b("sentAt")),
  numberAfter(frame, 0, end, b('"seq":')),
  numberAfter(b("bench sentAt=-12.5 x"), 0, 20, b("sentAt")),
  numberAfter(b('"sentAt":1.5e3}'), 0, 15, b("sentAt")),
  String(numberAfter(frame, 0, end, b('"nope":'))),
  String(numberAfter(frame, 0, 20, b("sentAt"))),
  fieldIs(frame, 0, end, b('"text":"'), b('p:0"')),
  fieldIs(frame, 0, end, b('"text":"'), b('p:01"')),
  fieldIs(frame, 0, end, b('"text":"'), b('p:1"')),
]));
"""


async def talk(ws: ServerConnection) -> None:
    hello = await ws.recv()  # `websockets` refuses an unmasked client frame
    await ws.send(["frag", "mented ", hello])
    await ws.send("x" * 70_000)  # a 64-bit length
    await ws.send("y" * 300)  # a 16-bit length
    await asyncio.wait_for(await ws.ping(b"p1"), 5)
    await ws.send(b"\x01\x02")
    await ws.close(1000)


def refuse(connection: ServerConnection, request: Request) -> Response | None:
    if request.path.startswith("/refuse"):
        return connection.respond(403, "no\n")
    return None


async def test_messages_ping_and_close_against_websockets() -> None:
    closed: list[int | None] = []

    async def handler(ws: ServerConnection) -> None:
        await talk(ws)
        closed.append(ws.close_code)

    async with serve(handler, "127.0.0.1", 0) as server:
        port = server.sockets[0].getsockname()[1]
        result = await run_module(CLIENT, f"ws://127.0.0.1:{port}/socket.io/?EIO=4")
    texts = [entry["text"] for entry in result["got"]]
    assert texts == ["fragmented héllo", "x" * 70_000, "y" * 300, "\x01\x02"]
    assert all(entry["stamped"] for entry in result["got"])
    assert result["error"] is None
    assert closed == [1000]  # the client answered the close handshake


async def test_refused_upgrade_is_an_error() -> None:
    async with serve(talk, "127.0.0.1", 0, process_request=refuse) as server:
        port = server.sockets[0].getsockname()[1]
        result = await run_module(CLIENT, f"ws://127.0.0.1:{port}/refuse")
    assert result == {"got": [], "error": "upgrade refused: HTTP/1.1 403 Forbidden"}


async def against_raw_server(answer: Callable[[bytes], bytes]) -> Any:
    """The client's result against a server that reads the upgrade request, writes
    `answer(its head)` in one write, and waits for the client to close."""

    async def serve_raw(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(answer(await reader.readuntil(b"\r\n\r\n")))
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(serve_raw, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        return await run_module(CLIENT, f"ws://127.0.0.1:{port}/")


def switching(accept: bytes) -> bytes:
    return (
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )


async def test_forged_accept_is_an_error() -> None:
    result = await against_raw_server(
        lambda head: switching(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=") + b"\x81\x02hi"
    )
    assert result == {"got": [], "error": "wrong Sec-WebSocket-Accept"}


async def test_nothing_is_delivered_after_a_protocol_error_in_the_same_chunk() -> None:
    def unknown_opcode(head: bytes) -> bytes:
        key = head.split(b"Sec-WebSocket-Key: ")[1].split(b"\r\n")[0]
        accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
        return switching(accept) + b"\x81\x01a\x83\x00\x81\x01c"  # "a", opcode 3, "c"

    result = await against_raw_server(unknown_opcode)
    assert [entry["text"] for entry in result["got"]] == ["a"]
    assert result["error"] == "opcode 3"


async def test_byte_readers() -> None:
    assert await run_module(READERS) == [
        1234.5678,
        42,
        -12.5,
        1500,
        "NaN",  # absent
        "NaN",  # beyond the frame's end
        True,
        False,
        False,
    ]
