"""Stand-ins for what uvicorn hands our writers: a transport that records its writes, and the
attributes of its WebSocket protocol that realtime.engineio.direct.DirectWriter reads."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from websockets.protocol import State


class RecordingTransport:
    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        self.writes.append(bytes(data))

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True


def uvicorn_like_protocol() -> Any:
    """The attributes of uvicorn's WebSocketsSansIOProtocol that DirectWriter reads (an open
    connection, writable, no extensions), over a RecordingTransport."""
    writable = asyncio.Event()
    writable.set()
    return SimpleNamespace(
        close_sent=False,
        disconnected=False,
        writable=writable,
        conn=SimpleNamespace(state=State.OPEN, extensions=[]),
        transport=RecordingTransport(),
    )
