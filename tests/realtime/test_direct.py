"""Frames written straight to uvicorn's transport: framed as the websockets library frames them."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.frames import Frame, Opcode
from websockets.streams import StreamReader

from realtime.engineio.direct import DirectWriter, Turn, direct_writer_of, turn_of, ws_frame
from realtime.engineio.websocket import WebSocketChannel
from tests.support import inprocess_uvicorn
from tests.support.fake_transports import uvicorn_like_protocol


def parsed(data: bytes) -> Frame:
    reader = StreamReader()
    reader.feed_data(data)
    parser = Frame.parse(reader.read_exact, mask=False)
    try:
        next(parser)
    except StopIteration as done:
        return done.value
    raise AssertionError("incomplete frame")


@pytest.mark.parametrize("size", [0, 1, 125, 126, 65_535, 65_536, 200_000])
def test_text_frames_of_every_length_encoding(size: int) -> None:
    text = "é" * (size // 2) + "x" * (size % 2)
    frame = parsed(ws_frame(text))
    assert (frame.opcode, frame.fin, frame.data.decode()) == (Opcode.TEXT, True, text)
    assert ws_frame(text) == Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


def test_the_first_frame_framed_is_framed_even_when_empty() -> None:
    """`framed` remembers the last frame it made; in a fresh process there is none yet."""
    code = "from realtime.engineio.direct import framed; print(framed('').hex())"
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root
    )
    assert bytes.fromhex(done.stdout.strip()) == ws_frame("") == b"\x81\x00"


def test_binary_frames() -> None:
    frame = parsed(ws_frame(b"\x00\x01\xff"))
    assert (frame.opcode, frame.data) == (Opcode.BINARY, b"\x00\x01\xff")


def test_only_uvicorns_send_has_a_direct_writer() -> None:
    async def send(message: dict) -> None: ...

    assert direct_writer_of(send) is None
    assert direct_writer_of(None) is None


async def test_serves_uvicorn_gives_direct_writes_in_order_with_its_own() -> None:
    """The uvicorn that `serve` runs, configured as `serve` configures it, still exposes what
    the direct writes need: else every frame would silently take the slower ASGI path. The
    handshake's request and response are dropped at the accept, and the connection goes on."""
    written: list[bool] = []
    released: list[tuple[Any, Any]] = []
    heard: list[dict] = []

    async def app(scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            return
        await receive()  # websocket.connect
        channel = WebSocketChannel(send, max_backlog=1_000_000)  # as the sessions write
        await channel.accept()
        protocol = send.__self__
        # kept by uvicorn's own protocol otherwise; realtime.wsprotocol makes neither
        released.append((getattr(protocol, "request", None), getattr(protocol, "response", None)))
        written.append(direct_writer_of(send) is not None)
        written.append(channel.write_now("direct"))
        await channel("through ASGI")  # the direct frame before it goes first
        written.append(channel.write_now(b"\x01binary"))
        heard.append(await receive())  # the client's frame after all that
        await receive()  # websocket.disconnect

    async with (
        inprocess_uvicorn.serving(app) as (port, _config),
        websockets.connect(f"ws://127.0.0.1:{port}/") as client,
    ):
        received = [await asyncio.wait_for(client.recv(), 5) for _ in range(3)]
        await client.send("after")
        while not heard:
            await asyncio.sleep(0.01)
    assert written == [True, True, True]
    assert received == ["direct", "through ASGI", b"\x01binary"]
    assert released == [(None, None)]  # the handshake's request and response: dropped
    assert heard == [{"type": "websocket.receive", "text": "after"}]


def busy_turn() -> None:
    """This loop's Turn as under load: it wrote a moment ago (no quiet spell before)."""
    turn_of(asyncio.get_running_loop()).flushed = time.perf_counter()


async def test_the_frames_of_a_loop_turn_go_out_in_one_write() -> None:
    protocol = uvicorn_like_protocol()
    writer = DirectWriter(protocol)
    shared = '42["news",1]'
    busy_turn()
    assert all([writer.write(shared), writer.write("3"), writer.write(shared)])
    assert protocol.transport.writes == []  # not yet: at the end of the turn
    await asyncio.sleep(0)
    assert protocol.transport.writes == [ws_frame(shared) + ws_frame("3") + ws_frame(shared)]
    writer.write(b"\x00")
    protocol.writable.clear()  # backpressure: the next frame must take the ASGI path...
    assert writer.write("late") is False
    assert protocol.transport.writes[-1] == ws_frame(b"\x00")  # ...after what came before
    protocol.writable.set()
    writer.write("never")
    protocol.close_sent = True  # closed before the turn ended: nothing after the close frame
    await asyncio.sleep(0)
    assert protocol.transport.writes[-1] == ws_frame(b"\x00")


async def test_the_writers_of_a_turn_are_flushed_together_at_its_end() -> None:
    first, second = uvicorn_like_protocol(), uvicorn_like_protocol()
    a, b = DirectWriter(first), DirectWriter(second)
    busy_turn()
    a.write("1")
    b.write("2")
    a.write("3")
    assert first.transport.writes == second.transport.writes == []  # within the budget
    await asyncio.sleep(0)
    assert first.transport.writes == [ws_frame("1") + ws_frame("3")]
    assert second.transport.writes == [ws_frame("2")]


async def test_a_turn_that_outlasts_the_budget_writes_what_waited_before_corking_more() -> None:
    """A long turn (a connect storm's batch of handshakes) does not hold every answer to its
    end: the next writer to cork after the budget flushes what waited."""
    first, second, third = (uvicorn_like_protocol() for _ in range(3))
    a, b, c = DirectWriter(first), DirectWriter(second), DirectWriter(third)
    busy_turn()
    a.write("early")
    time.sleep(Turn.BUDGET_S * 2)  # the rest of a long turn
    a.write("later, same socket")  # no new writer: nothing is flushed yet
    assert first.transport.writes == []
    b.write("after the budget")
    assert first.transport.writes == [ws_frame("early") + ws_frame("later, same socket")]
    assert second.transport.writes == []  # b corks: it starts the next budget
    c.write("within it")
    assert third.transport.writes == []
    await asyncio.sleep(0)
    assert second.transport.writes == [ws_frame("after the budget")]
    assert third.transport.writes == [ws_frame("within it")]
    assert first.transport.writes == [ws_frame("early") + ws_frame("later, same socket")]


async def test_after_a_quiet_spell_the_first_frame_goes_out_when_the_next_writer_corks() -> None:
    """A broadcast on a quiet server: its first peer is woken while the others' frames are
    corked; the others go out together at the end of the turn, as under load."""
    await asyncio.sleep(0)  # what earlier tests corked is written
    time.sleep(Turn.QUIET_S * 2)
    protocols = [uvicorn_like_protocol() for _ in range(4)]
    writers = [DirectWriter(protocol) for protocol in protocols]
    writers[0].write("first")
    writers[0].write("first, again")
    assert protocols[0].transport.writes == []  # nobody else corked yet
    writers[1].write("second")
    assert protocols[0].transport.writes == [ws_frame("first") + ws_frame("first, again")]
    writers[2].write("third")
    writers[3].write("fourth")
    assert [p.transport.writes for p in protocols[1:]] == [[], [], []]  # no longer quiet
    await asyncio.sleep(0)
    assert [p.transport.writes for p in protocols[1:]] == [
        [ws_frame(text)] for text in ("second", "third", "fourth")
    ]
    busy = [uvicorn_like_protocol() for _ in range(2)]  # the next turn: not quiet
    for protocol, text in zip(busy, ("a", "b"), strict=True):
        DirectWriter(protocol).write(text)
    assert [p.transport.writes for p in busy] == [[], []]
    await asyncio.sleep(0)
    assert [p.transport.writes for p in busy] == [[ws_frame("a")], [ws_frame("b")]]


async def test_a_writer_that_fails_costs_the_others_nothing(caplog: Any) -> None:
    broken, fine = uvicorn_like_protocol(), uvicorn_like_protocol()

    def refuse(data: bytes) -> None:
        raise RuntimeError("transport gone wrong")

    broken.transport.write = refuse
    DirectWriter(broken).write("lost")
    DirectWriter(fine).write("kept")
    await asyncio.sleep(0)
    assert fine.transport.writes == [ws_frame("kept")]
    assert "held for the end of the turn failed" in caplog.text


async def test_a_watched_writer_asks_the_protocol_again_only_after_a_hold() -> None:
    """While `ready`, a frame is corked with no look at the protocol; the protocol's `hold()`
    (writing paused, closing) makes the next frame check it again."""
    protocol = uvicorn_like_protocol()
    writer = DirectWriter(protocol, watched=True)
    assert writer.ready is False  # nothing checked yet
    assert writer.write("1") is True and writer.ready is True
    protocol.writable.clear()
    writer.hold()  # as realtime.wsprotocol's pause_writing does
    assert writer.write("2") is False and writer.ready is False
    protocol.writable.set()
    assert writer.write("3") is True and writer.ready is True
    await asyncio.sleep(0)
    assert protocol.transport.writes == [ws_frame("1"), ws_frame("3")]
    writer.write("4")
    protocol.close_sent = True  # seen at the flush at the latest: nothing after a close frame
    await asyncio.sleep(0)
    assert protocol.transport.writes == [ws_frame("1"), ws_frame("3")]


async def test_an_unwatched_writer_is_never_ready_and_a_closed_one_never_writes() -> None:
    unwatched = DirectWriter(uvicorn_like_protocol())
    assert unwatched.write("1") is True and unwatched.ready is False  # checks every frame
    closed = DirectWriter(uvicorn_like_protocol(), watched=True)
    assert closed.write("1") is True
    closed.close()  # its channel closed
    assert closed.write("2") is False and closed.check() is False
