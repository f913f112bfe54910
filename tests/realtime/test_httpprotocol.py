"""realtime.httpprotocol: a response's head and body in one write, on a real uvicorn."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from typing import Any

from realtime.httpprotocol import HeadHeldTransport, HttpProtocol
from tests.support import inprocess_uvicorn
from tests.support.fake_transports import RecordingTransport


async def test_the_first_write_goes_out_with_the_second() -> None:
    recorded = RecordingTransport()
    transport = HeadHeldTransport(recorded)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    assert recorded.writes == []
    transport.write(b"body")
    transport.write(b"more")
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]
    await asyncio.sleep(0)  # the turn's end: nothing left to write
    assert recorded.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody", b"more"]


async def test_a_lone_first_write_goes_out_at_the_end_of_the_turn() -> None:
    recorded = RecordingTransport()
    transport = HeadHeldTransport(recorded)  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert recorded.writes == [b"HTTP/1.1 100 Continue\r\n\r\n"]
    transport.write(b"later")
    assert recorded.writes[-1] == b"later"


async def test_closing_writes_what_waits_first() -> None:
    recorded = RecordingTransport()
    transport = HeadHeldTransport(recorded)  # type: ignore[arg-type]
    transport.write(b"head")
    transport.close()
    assert (recorded.writes, recorded.closed) == ([b"head"], True)


@contextlib.asynccontextmanager
async def serving(app: Any) -> AsyncIterator[int]:
    async with inprocess_uvicorn.serving(app) as (port, config):
        assert config.http_protocol_class is HttpProtocol
        yield port


async def test_answers_arrive_whole_on_one_keep_alive_connection() -> None:
    """Each cycle writes through a HeadHeldTransport; a streamed answer's head does not wait
    for a slow chunk."""
    held: list[bool] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        held.append(isinstance(send.__self__.transport, HeadHeldTransport))
        body = (await receive())["body"]
        if scope["path"] == "/stream":
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await asyncio.sleep(0.5)  # the head must not wait for this
            await send({"type": "http.response.body", "body": b"late"})
            return
        headers = [(b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    async with serving(app) as port:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for body in (b"one", b"second"):
            writer.write(
                b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
            )
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200 OK\r\n")
            assert await asyncio.wait_for(reader.readexactly(len(body)), 5) == body
        writer.write(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 0.4)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        assert await asyncio.wait_for(reader.read(65536), 5) == b"4\r\nlate\r\n0\r\n\r\n"
        writer.close()
    assert held == [True, True, True]


async def answering(scope: dict, receive: Any, send: Any) -> None:
    """200 to any HTTP request; a WebSocket is accepted and then read until it closes."""
    if scope["type"] == "websocket":
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] != "websocket.disconnect":
            pass
        return
    await receive()
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


async def ask(reader: asyncio.StreamReader, writer: Any) -> None:
    writer.write(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert await asyncio.wait_for(reader.readexactly(2), 5) == b"ok"


async def closed_after(reader: asyncio.StreamReader, since: float) -> float:
    assert await asyncio.wait_for(reader.read(), 5) == b""
    return asyncio.get_running_loop().time() - since


KEEP_ALIVE_S = 0.3
UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_an_idle_keep_alive_connection_closes_after_the_timeout() -> None:
    async with inprocess_uvicorn.serving(answering) as (port, config):
        config.timeout_keep_alive = KEEP_ALIVE_S
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await ask(reader, writer)
        idle = await closed_after(reader, asyncio.get_running_loop().time())
        writer.close()
    assert KEEP_ALIVE_S - 0.05 < idle < KEEP_ALIVE_S + 0.5


async def test_a_busy_connection_stays_open_and_closes_a_timeout_after_its_last_answer() -> None:
    async with inprocess_uvicorn.serving(answering) as (port, config):
        config.timeout_keep_alive = KEEP_ALIVE_S
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(8):  # 1.2 s: four timeouts, each answer less than one apart
            await ask(reader, writer)
            await asyncio.sleep(KEEP_ALIVE_S / 2)
        await ask(reader, writer)
        idle = await closed_after(reader, asyncio.get_running_loop().time())
        writer.close()
    assert KEEP_ALIVE_S - 0.05 < idle < KEEP_ALIVE_S + 0.5


async def test_a_connection_upgraded_after_answers_is_not_closed_by_their_timeout() -> None:
    async with inprocess_uvicorn.serving(answering) as (port, config):
        config.timeout_keep_alive = KEEP_ALIVE_S
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        await ask(reader, writer)
        writer.write(UPGRADE)
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 101 ")
        with contextlib.suppress(TimeoutError):
            assert await asyncio.wait_for(reader.read(1), 3 * KEEP_ALIVE_S) != b""  # no close
        assert not reader.at_eof()
        writer.close()


async def test_the_protocol_that_hands_over_an_upgrade_is_freed_without_the_collector() -> None:
    """Its parser calls back into it: a cycle, left to the collector, which in a connect storm
    stalled every connection to find one per upgrade."""
    gc.collect()
    gc.disable()
    try:
        before = {id(o) for o in gc.get_objects() if isinstance(o, HttpProtocol)}
        async with inprocess_uvicorn.serving(answering) as (port, _):
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.write(UPGRADE)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 101 ")
            left = [
                o for o in gc.get_objects() if isinstance(o, HttpProtocol) and id(o) not in before
            ]
            writer.close()
    finally:
        gc.enable()
    assert left == []
