"""The load generator's keep-alive HTTP client (bench/loadgen/httpclient.mjs) against a
hand-written server: a Content-Length answer, a chunked one with a trailer, a `connection:
close` answer and the new connection after it, the request's own bytes, a broken answer."""

from __future__ import annotations

import asyncio
import contextlib

from tests.support.loadgen_js import run_module

# four POSTs in a row on one HttpConnection to argv[1]; prints their statuses
CLIENT = """
import { HttpConnection } from "%(loadgen)s/httpclient.mjs";
const connection = new HttpConnection(process.argv[1]);
const statuses = [];
for (let i = 0; i < 4; i++) statuses.push(await connection.post(`/emit/u${i}/e`, `{"i":${i}}`));
connection.close();
console.log(JSON.stringify(statuses));
"""

ANSWERS = [
    b"HTTP/1.1 200 OK\r\ncontent-length: 16\r\n\r\n" + b'{"success":true}',
    b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
    b'4\r\n{"a"\r\n3\r\n:1}\r\n0\r\nx-trailer: 1\r\n\r\n',
    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n" + b"{}",
]


async def run_client(port: int) -> list[int]:
    statuses: list[int] = await run_module(CLIENT, f"http://127.0.0.1:{port}")
    return statuses


async def test_keep_alive_chunked_and_close() -> None:
    requests: list[tuple[int, bytes, bytes]] = []  # (connection, head, body)
    answers = iter(ANSWERS)
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        connection = connections
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                requests.append((connection, head, await reader.readexactly(length)))
                answer = next(answers)
                for k in range(0, len(answer), 7):  # in pieces: the client reassembles
                    writer.write(answer[k : k + 7])
                    await writer.drain()
                if b"connection: close" in answer:
                    break
        except asyncio.IncompleteReadError:
            pass
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        statuses = await run_client(server.sockets[0].getsockname()[1])
    assert statuses == [200, 201, 404, 200]
    assert [connection for connection, _, _ in requests] == [1, 1, 1, 2]
    assert [body for _, _, body in requests] == [b'{"i":0}', b'{"i":1}', b'{"i":2}', b'{"i":3}']
    head = requests[0][1].decode()
    assert head.startswith("POST /emit/u0/e HTTP/1.1\r\n")
    assert "Content-Type: application/json\r\n" in head


async def test_a_broken_answer_is_status_0_and_a_new_connection() -> None:
    connections = 0

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        first = connections == 1
        with contextlib.suppress(asyncio.IncompleteReadError, ConnectionError):
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length: ")[1].split(b"\r\n")[0])
                await reader.readexactly(length)
                if first:
                    writer.write(b"garbage\r\n\r\n")
                    break
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        statuses = await run_client(server.sockets[0].getsockname()[1])
    assert statuses == [0, 204, 204, 204]
    assert connections == 2
