"""WebSocket frames written straight to the connection, where the ASGI server allows it (uvicorn).

Per frame, ASGI's `send` costs a coroutine, a message dict, uvicorn's checks and the websockets
library's framing in Python: with the `send()` syscall, most of a fan-out's CPU. Frames from
server to client are not masked, so framing one is a header before its bytes. Behind uvicorn's
`send` (a bound method of its sans-I/O WebSocket protocol) is the transport: while the
connection is open, has no extension (serve runs uvicorn without compression) and is writable
(no backpressure), a frame is written to it directly, in order with everything uvicorn writes
(the same loop, the same transport). Otherwise, and on any other server, frames go through ASGI
`send` as always; realtime.engineio.session falls back by itself.
"""

from __future__ import annotations

import asyncio
import logging
import struct
import weakref
from time import perf_counter
from typing import Any, Protocol

from websockets.protocol import State

from .packets import Frame

logger = logging.getLogger(__name__)

_TEXT, _BINARY = 0x81, 0x82  # FIN + opcode


def ws_frame(frame: Frame) -> bytes:
    """One unfragmented, unmasked WebSocket frame (RFC 6455 §5.2) carrying `frame`."""
    if isinstance(frame, str):
        opcode, payload = _TEXT, frame.encode()
    else:
        opcode, payload = _BINARY, bytes(frame)
    length = len(payload)
    if length < 126:
        header = bytes((opcode, length))
    elif length < 65_536:
        header = struct.pack("!BBH", opcode, 126, length)
    else:
        header = struct.pack("!BBQ", opcode, 127, length)
    return header + payload


class DirectWriter:
    """Writes frames to a uvicorn WebSocket connection's transport while that is safe.

    The frames written during one turn of the event loop go out together at its end, in one
    `send()` syscall: under load a socket gets several broadcasts per turn, and the syscall is
    most of a delivery's cost (bench: fan-out 2x the deliveries/s). A frame waits for the rest
    of its turn, but no longer than `Turn.BUDGET_S` (see there). The frames of one broadcast
    are one object for all its sockets: their WebSocket framing is made once. Anything that
    goes around this writer (ASGI `send`: WebSocketChannel) calls `flush()` first, so the order
    on the wire is kept.

    Whether the connection may take a frame directly is asked of uvicorn's protocol: five of
    its attributes over three objects. realtime.wsprotocol's protocol is watched: it calls
    `hold()` when writing pauses or the connection closes, so between two holds the answer is
    kept (`ready`) and a frame is corked without the checks. For a broadcast on a quiet
    server, whose sockets' objects are out of the CPU's caches, that was ~40 % of a delivery
    (bench/RESULTS.md). The flush checks the close again: a frame corked after a close in the
    same turn is dropped, as before.
    """

    __slots__ = ("closed", "corked", "protocol", "ready", "turn", "watched")

    def __init__(self, protocol: Any, watched: bool = False) -> None:
        self.protocol = protocol
        self.turn = turn_of(asyncio.get_running_loop())
        self.corked: list[bytes] = []
        self.watched = watched  # the protocol calls `hold()` (see the class docstring)
        self.ready = False  # the last check said yes, and no hold came since
        self.closed = False  # the channel closed: nothing is written directly any more

    def write(self, frame: Frame) -> bool:
        """Write `frame` at the end of this loop turn; False (nothing written) when it must go
        through ASGI `send`."""
        if not self.ready and not self.check():
            self.flush()  # what was written before goes first
            return False
        self.cork(framed(frame))
        return True

    def cork(self, data: bytes) -> None:
        """Write `data` (whole frames, or the handshake's answer) at the end of this turn."""
        if not self.corked:
            self.turn.add(self)
        self.corked.append(data)

    def check(self) -> bool:
        """Whether frames may be written directly now: the connection open, writable (no
        backpressure) and without extensions. Remembered as `ready` for a watched protocol."""
        protocol = self.protocol
        able = not (
            self.closed
            or protocol.close_sent
            or protocol.disconnected
            or not protocol.writable.is_set()
            or protocol.conn.state is not State.OPEN
            or protocol.conn.extensions
        )
        self.ready = able and self.watched
        return able

    def hold(self) -> None:
        """The protocol paused writing or is closing: check it again before the next frame."""
        self.ready = False

    def close(self) -> None:
        """No more direct frames, ever (the channel closed, or went through ASGI to close)."""
        self.closed = True
        self.ready = False

    def release_handshake(self) -> None:
        """Drop the opening handshake's request and response once it is answered. uvicorn keeps
        both for the connection's life but reads them only until then: with their headers,
        about twenty objects per connection that the garbage collector would scan again and
        again as a connect storm's heap grows."""
        protocol = self.protocol
        if protocol.handshake_complete and hasattr(protocol, "request"):
            # (realtime.wsprotocol makes neither)
            if protocol.request is not None:  # websockets' parser holds it too, for good
                protocol.request.headers.clear()
            protocol.request = protocol.response = None

    def flush(self) -> None:
        """Write the corked frames now (dropped if the connection closed meanwhile)."""
        if not self.corked:
            return
        data = self.corked[0] if len(self.corked) == 1 else b"".join(self.corked)
        self.corked.clear()
        protocol = self.protocol
        if protocol.close_sent or protocol.disconnected or protocol.conn.state is not State.OPEN:
            return  # the client is gone or going: nothing may follow a close frame
        protocol.transport.write(data)


class Flushable(Protocol):
    """What a Turn flushes: a DirectWriter, or realtime.httpprotocol's held response head."""

    def flush(self) -> None: ...


class Turn:
    """The writers with corked frames in one event loop, flushed together at the end of its turn.

    A loop turn runs every callback that was ready when it began: under a connect storm, the
    requests and handshakes of a few hundred connections, 50 ms and more. Held to the end of
    such a turn, every answer would wait for the whole batch, and the clients, with nothing to
    do meanwhile, would answer in a batch too: the two sides would take turns instead of
    working at once. So once the turn's first corked frame has waited `BUDGET_S`, the next
    writer to cork flushes everyone first (bench, 5,000-client storm: ~2,100 -> ~2,300
    connects/s, REST delivery p50 ~4 -> ~3 ms). Under a fan-out's saturation a socket still
    gets a few broadcasts a write: at 0.5 ms and more the deliveries/s are the same as at the
    end of the turn, at 0.25 ms they halve, so the budget keeps twice the margin.

    After a quiet spell (nothing written for `QUIET_S`), the first corked frame goes out as
    soon as a second writer corks, and the rest wait as usual. The peers of a lightly loaded
    server sleep between messages, and waking one takes a while: the first peer now wakes
    while the others' frames are corked, instead of after. Writing every frame at once after
    a quiet spell was worse for the tail (each peer woken for each frame). Bench, paced
    broadcasts to 100 sockets, 24 runs each in ABBA order: p99 3.80 vs 4.16 ms on average
    (bench/RESULTS.md).
    """

    BUDGET_S = 0.001
    QUIET_S = 0.005

    def __init__(self) -> None:  # no reference to the loop: it is the key of `_turns`
        self.writers: list[Flushable] = []
        self.since = 0.0  # when the first of `writers` corked
        self.budget = self.BUDGET_S  # how long the first of `writers` may wait
        self.flushed = 0.0  # when the writers were last flushed
        self.scheduled = False

    def add(self, writer: Flushable) -> None:
        """`writer` corks its first frame since its last flush."""
        now = perf_counter()
        if not self.writers:
            self.since = now
            self.budget = 0.0 if now - self.flushed > self.QUIET_S else self.BUDGET_S
        elif now - self.since > self.budget:
            self.flush()
            self.since = now
            self.budget = self.BUDGET_S
        if not self.scheduled:
            self.scheduled = True
            asyncio.get_running_loop().call_soon(self.end)
        self.writers.append(writer)

    def flush(self) -> None:
        """Write every corked frame now (a writer flushed on its own meanwhile writes nothing)."""
        writers, self.writers = self.writers, []
        self.flushed = perf_counter()
        for writer in writers:
            try:
                writer.flush()
            except Exception:  # one broken connection must not cost the others their frames
                logger.exception("writing what a connection held for the end of the turn failed")

    def end(self) -> None:
        self.scheduled = False
        self.flush()


_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Turn] = weakref.WeakKeyDictionary()


def turn_of(loop: asyncio.AbstractEventLoop) -> Turn:
    """The one Turn of `loop`."""
    turn = _turns.get(loop)
    if turn is None:
        turn = _turns[loop] = Turn()
    return turn


_last: tuple[Frame | None, bytes] = (None, b"")  # no frame is None: the first call frames


def framed(frame: Frame) -> bytes:
    """`ws_frame(frame)`, made once for the many sockets a broadcast's frame goes to in a row."""
    global _last
    if _last[0] is not frame:
        _last = (frame, ws_frame(frame))
    return _last[1]


def direct_writer_of(send: Any) -> DirectWriter | None:
    """A DirectWriter for uvicorn's ASGI `send`, or None for anything else."""
    protocol: Any = getattr(send, "__self__", None)
    if not any(cls.__name__ == "WebSocketsSansIOProtocol" for cls in type(protocol).__mro__):
        return None  # (realtime.wsprotocol subclasses it)
    needed = ("close_sent", "disconnected", "writable", "conn", "transport", "handshake_complete")
    if not all(hasattr(protocol, name) for name in needed):
        return None  # another uvicorn than the one this was written for: ASGI only
    watched = hasattr(type(protocol), "direct_writer")  # realtime.wsprotocol's: it calls hold()
    writer = DirectWriter(protocol, watched)
    if watched:
        protocol.direct_writer = writer
    return writer
