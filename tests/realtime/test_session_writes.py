"""The session's WebSocket writes: straight to the connection while nothing is queued, in
order behind what is queued once the connection refuses a direct write."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from realtime.engineio.server import EngineServer
from realtime.engineio.session import Transport


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
