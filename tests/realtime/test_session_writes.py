"""The session's WebSocket writes: straight to the connection while nothing is queued, in
order behind what is queued once the connection refuses a direct write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.engineio.direct import DirectWriter, ws_frame
from realtime.engineio.server import EngineServer
from realtime.engineio.session import Transport
from tests.support.fake_transports import uvicorn_like_protocol


class FakeWebSocket:
    """A WebSocket's send side with a direct write that can be refused (backpressure)."""

    def __init__(self) -> None:
        self.wire: list[Any] = []  # what reached the connection, in order
        self.direct: list[Any] = []
        self.refuse = False

    def write_now(self, frame: Any) -> bool:
        if self.refuse:
            return False
        self.direct.append(frame)
        self.wire.append(frame)
        return True

    async def __call__(self, frame: Any, code: int = 1000) -> None:
        await asyncio.sleep(0)  # an ASGI send takes a loop turn, as uvicorn's may
        self.wire.append(frame)


def never_started(session: Any) -> Any:
    raise AssertionError("these sessions are written to, never started")


def session_on(ws: FakeWebSocket) -> Any:
    server = EngineServer(never_started)
    session = server.create_session(
        {"type": "websocket", "client": ("127.0.0.1", 1)}, Transport.WEBSOCKET
    )
    session.attach_websocket(ws)
    return session


@pytest.mark.asyncio
async def test_frames_go_straight_out_while_nothing_is_queued() -> None:
    ws = FakeWebSocket()
    session = session_on(ws)
    for frame in ("4a", "4b", "4c"):
        session.send(frame)
    assert ws.direct == ws.wire == ["4a", "4b", "4c"]
    assert session._queue == [] and session._queued_bytes == 0


@pytest.mark.asyncio
async def test_once_refused_later_frames_wait_behind_the_queued_ones() -> None:
    ws = FakeWebSocket()
    session = session_on(ws)
    session.send("4a")
    ws.refuse = True
    session.send("4b")  # refused: the writer task sends it through ASGI
    ws.refuse = False
    session.send("4c")  # writable again, but "4b" is not out yet: it must not jump ahead
    assert ws.direct == ["4a"]
    await session._ws_writer
    assert ws.wire == ["4a", "4b", "4c"]
    session.send("4d")  # nothing queued or in flight again: straight out
    assert ws.direct == ["4a", "4d"] and ws.wire == ["4a", "4b", "4c", "4d"]


class DirectWebSocket(FakeWebSocket):
    """A WebSocket whose direct writes go through a watched DirectWriter, as on `serve`'s
    uvicorn: the session takes its `direct_writer` as its lane."""

    def __init__(self) -> None:
        super().__init__()
        self.protocol = uvicorn_like_protocol()
        self.direct_writer = DirectWriter(self.protocol, watched=True)

    def write_now(self, frame: Any) -> bool:
        return self.direct_writer.write(frame)


@pytest.mark.asyncio
async def test_the_lane_is_taken_only_while_nothing_is_queued_and_the_session_is_open() -> None:
    ws = DirectWebSocket()
    session = session_on(ws)
    assert session.lane is None  # nothing proved yet
    session.send("4a")
    assert session.lane is ws.direct_writer  # written directly: the next frame takes the lane
    ws.direct_writer.hold()  # the protocol paused writing
    ws.protocol.writable.clear()
    session.send("4b")  # refused by the writer: through ASGI, and the lane is left
    assert session.lane is None and not session._ws_writer.done()
    ws.protocol.writable.set()
    session.send("4c")  # behind "4b", not around it
    assert session.lane is None
    await session._ws_writer
    assert ws.wire == ["4b", "4c"]  # through ASGI, in order
    session.send("4d")  # nothing queued again: direct, and the lane is back
    assert session.lane is ws.direct_writer
    session.close("server disconnect", notify_client=False)
    assert session.lane is None
    session.send("4e")  # a closed session sends nothing
    await asyncio.sleep(0)
    assert ws.protocol.transport.writes == [ws_frame("4a"), ws_frame("4d")]


@pytest.mark.asyncio
async def test_a_new_websocket_is_not_taken_as_a_lane_before_it_is_written() -> None:
    first, second = DirectWebSocket(), DirectWebSocket()
    session = session_on(first)
    session.send("4a")
    assert session.lane is first.direct_writer
    session.attach_websocket(second)
    assert session.lane is None
    session.send("4b")
    assert session.lane is second.direct_writer
