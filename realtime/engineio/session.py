"""One Engine.IO session: its state, outgoing queue, heartbeat, and the upgrade handshake.

The session is transport-agnostic. Long-polling requests and WebSocket connections come and go;
the session stays, and whichever transport currently carries it drains the same bounded queue.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from .. import metrics
from ..eager import run_eagerly
from ..tasks import spawn
from .packets import (
    CLOSE_FRAME,
    NOOP_FRAME,
    PING_FRAME,
    EngineIOParseError,
    Frame,
    Packet,
    PacketType,
)

if TYPE_CHECKING:
    from .direct import DirectWriter
    from .server import EngineServer

logger = logging.getLogger(__name__)


class SessionState(Enum):
    OPEN = "open"
    CLOSING = "closing"  # closed by the server; a waiting or next poll still gets CLOSE
    CLOSED = "closed"


class Transport(Enum):
    POLLING = "polling"
    WEBSOCKET = "websocket"


class SessionHandler(Protocol):
    """What the layer above Engine.IO (Socket.IO, or a bare echo) implements."""

    def on_message(self, data: str | bytes) -> None: ...

    def on_close(self, reason: str) -> None: ...


class PollConflict(Exception):
    """A long-polling request that the session's state forbids (duplicate or after upgrade)."""


# an application close code (autobahn, hence daphne, accepts only 1000 and 3000-4999)
SLOW_CLIENT_CLOSE_CODE = 4008


class WebSocketSend(Protocol):
    """The send side of a WebSocket: one frame, or None to close it with `code`."""

    def __call__(self, frame: Frame | None, code: int = 1000) -> Coroutine[Any, Any, None]: ...


class Session:
    """An Engine.IO session. All methods run on the event loop; none blocks."""

    # slots: a broadcast reads `lane` of each of its sessions, on a quiet server out of the
    # CPU's caches, and an attribute in a slot is one object to read, not two (no gain the
    # bench could see; no cost either)
    __slots__ = (
        "_close_code",
        "_direct",
        "_ping_timer",
        "_poll_waiter",
        "_pong_timer",
        "_posting",
        "_probe_send",
        "_probe_settled",
        "_queue",
        "_queued_bytes",
        "_write_now",
        "_writing",
        "_ws_send",
        "_ws_writer",
        "close_reason",
        "handler",
        "lane",
        "scope",
        "server",
        "sid",
        "state",
        "transport",
        "upgrading",
    )

    def __init__(
        self, server: EngineServer, sid: str, scope: dict[str, Any], transport: Transport
    ) -> None:
        self.server = server
        self.sid = sid
        self.scope = scope
        self.transport = transport
        self.state = SessionState.OPEN
        self.handler: SessionHandler | None = None
        self.upgrading = False  # a WebSocket probe succeeded; waiting for UPGRADE
        # a list, not a deque: bounded by MAX_BUFFERED_PACKETS, and mostly empty, when a deque
        # would cost 0.7 KiB per idle session
        self._queue: list[Frame] = []
        self._queued_bytes = 0
        self._poll_waiter: asyncio.Future[None] | None = None
        self._posting = False
        self._ws_send: WebSocketSend | None = None
        self._ws_writer: asyncio.Task[None] | None = None
        self._writing = False  # the writer runs eagerly right now (see _ensure_ws_writer)
        self._write_now: Callable[[Frame], bool] | None = None  # the WebSocket's direct write
        self._direct: DirectWriter | None = None  # the WebSocket's writer behind `_write_now`
        # `_direct` while nothing is queued, no writer runs and the session is open, as the
        # last frame written found them: the next frame goes to it with no other check
        self.lane: DirectWriter | None = None
        self._probe_send: WebSocketSend | None = None  # a WebSocket probing an upgrade
        self._probe_settled: asyncio.Future[None] | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._pong_timer: asyncio.TimerHandle | None = None
        self.close_reason = ""
        self._close_code = 1000  # the WebSocket's, when the session ends

    # ----- lifecycle -----------------------------------------------------------------

    def start(self, handler: SessionHandler) -> None:
        self.handler = handler
        self._schedule_ping()

    @property
    def is_open(self) -> bool:
        return self.state is SessionState.OPEN

    def close(self, reason: str, *, notify_client: bool = True) -> None:
        """End the session. With `notify_client`, the client is sent a CLOSE packet first."""
        if self.state is not SessionState.OPEN:
            return
        self.lane = None
        self.close_reason = reason
        self._cancel_timers()
        if self.transport is Transport.POLLING and notify_client and self._poll_waiter is None:
            self.state = SessionState.CLOSING  # the next poll gets CLOSE, then the sid is gone
            loop = asyncio.get_running_loop()
            loop.call_later(self.server.ping_timeout_s + 1.0, self._forget)
        else:
            self.state = SessionState.CLOSED
            self.server.forget(self)
        if notify_client:
            self._queue.append(CLOSE_FRAME)  # after what is already queued
        else:
            self._queue.clear()
            self._queued_bytes = 0
        self._wake()
        if self._probe_send is not None:
            spawn(self._probe_send(None))
        handler, self.handler = self.handler, None
        if handler is not None:
            try:
                handler.on_close(reason)
            except Exception:
                logger.exception("session %s: close handler failed", self.sid)

    def _forget(self) -> None:
        self.state = SessionState.CLOSED
        self.server.forget(self)

    # ----- outgoing ------------------------------------------------------------------

    def send(self, frame: Frame) -> None:
        """Queue one ready frame; a client that lets the queue overflow is dropped."""
        lane = self.lane
        if lane is not None and frame and lane.write(frame):
            return  # the hot path: a broadcast's deliveries (see `lane`)
        if self.state is not SessionState.OPEN:
            return
        write_now = self._write_now
        if (
            write_now is not None
            and not self._queue
            and not self._writing
            and (self._ws_writer is None or self._ws_writer.done())
            and write_now(frame)
        ):
            self.lane = self._direct  # nothing queued before it: written straight to the WebSocket
            return
        self.lane = None
        self._queue.append(frame)
        self._queued_bytes += len(frame)
        if (
            len(self._queue) > self.server.max_buffered_packets
            or self._queued_bytes > self.server.max_buffered_bytes
        ):
            logger.warning("session %s: outgoing buffer full, dropping the client", self.sid)
            self._close_code = SLOW_CLIENT_CLOSE_CODE
            self.close("transport error", notify_client=False)
            return
        self._wake()

    def send_many(self, frames: list[Frame]) -> None:
        for frame in frames:
            self.send(frame)

    def _take_all(self) -> list[Frame]:
        frames, self._queue = self._queue, []
        self._queued_bytes = 0
        return frames

    def _wake(self) -> None:
        if self.transport is Transport.WEBSOCKET:
            self._ensure_ws_writer()
        elif self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(None)

    # ----- heartbeat -----------------------------------------------------------------

    def _schedule_ping(self) -> None:
        loop = asyncio.get_running_loop()
        self._ping_timer = loop.call_later(self.server.ping_interval_s, self._send_ping)

    def _send_ping(self) -> None:
        self._ping_timer = None
        if not self.is_open:
            return
        loop = asyncio.get_running_loop()
        self._pong_timer = loop.call_later(self.server.ping_timeout_s, self._on_pong_timeout)
        self.send(PING_FRAME)

    def _on_pong_timeout(self) -> None:
        self._pong_timer = None
        self.close("ping timeout", notify_client=False)

    def _on_pong(self) -> None:
        if self._pong_timer is None:
            return  # a pong nobody asked for: harmless
        self._pong_timer.cancel()
        self._pong_timer = None
        self._schedule_ping()

    def _cancel_timers(self) -> None:
        for timer in (self._ping_timer, self._pong_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._pong_timer = None

    # ----- incoming ------------------------------------------------------------------

    def receive_packet(self, packet: Packet) -> None:
        """Handle one packet from the client; a protocol violation closes the session."""
        if not self.is_open:
            return
        kind = packet.type
        if kind is PacketType.MESSAGE:
            if len(packet.data) > self.server.max_payload:
                self.close("transport error", notify_client=False)
            elif self.handler is not None:
                self.handler.on_message(packet.data)
        elif kind is PacketType.PONG:
            self._on_pong()
        elif kind is PacketType.CLOSE:
            self.close("transport close", notify_client=False)
        elif kind is PacketType.NOOP:
            pass
        else:  # OPEN, UPGRADE outside a probe, or a PING (v4 pings go server -> client only)
            raise EngineIOParseError(f"unexpected {kind.name} packet from the client")

    def receive_packets(self, packets: list[Packet]) -> None:
        try:
            for packet in packets:
                self.receive_packet(packet)
        except EngineIOParseError:
            self.close("parse error", notify_client=False)
            raise

    # ----- long-polling --------------------------------------------------------------

    def begin_poll(self) -> list[Frame] | asyncio.Future[None]:
        """Start one long-polling GET: ready frames at once, or a future to wait on.

        Runs synchronously when the request arrives, so a POST processed right after it finds
        the poll registered. Raises PollConflict for a poll the session cannot serve: after
        an upgrade, or while another poll waits (which closes the session, like the
        reference server).
        """
        if self.state is SessionState.CLOSING:
            self._forget()
            return [CLOSE_FRAME]
        if not self.is_open or self.transport is not Transport.POLLING:
            raise PollConflict("session is not on long-polling")
        if self._poll_waiter is not None:
            self.close("transport error")
            raise PollConflict("overlapping long-polling requests")
        if self._queue:
            return self._take_all()
        self._poll_waiter = asyncio.get_running_loop().create_future()
        if self.upgrading:
            self._poll_waiter.set_result(None)  # let the client finish its upgrade quickly
        return self._poll_waiter

    def end_poll(self) -> list[Frame]:
        """Finish a poll whose future resolved: what is queued, or a NOOP."""
        self._poll_waiter = None
        if self.transport is not Transport.POLLING:
            return [NOOP_FRAME]  # upgraded meanwhile: what is queued goes over the WebSocket
        if self._queue:
            return self._take_all()
        return [NOOP_FRAME]

    def abandon_poll(self) -> None:
        """The client went away mid-poll: keep the frames for its next poll."""
        self._poll_waiter = None

    def begin_post(self) -> None:
        if not self.is_open or self.transport is not Transport.POLLING:
            raise PollConflict("session is not on long-polling")
        if self._posting:
            self.close("transport error")
            raise PollConflict("overlapping long-polling POSTs")
        self._posting = True

    def end_post(self) -> None:
        self._posting = False

    # ----- WebSocket -----------------------------------------------------------------

    def begin_probe(self, ws_send: WebSocketSend) -> bool:
        """A WebSocket asks to take over this polling session; False if it may not."""
        if not self.is_open or self.transport is not Transport.POLLING:
            return False
        if self._probe_send is not None:
            return False
        self._probe_send = ws_send
        self._probe_settled = asyncio.get_running_loop().create_future()
        return True

    async def wait_for_probe(self, timeout: float) -> None:
        """Let a WebSocket probe that is already under way settle before a poll is answered.

        The probe's frames and a new GET can reach the process in the same loop turn, in
        either order; a short wait gives the GET the answer the frames already decided.
        """
        settled = self._probe_settled
        if settled is not None and not settled.done():
            await asyncio.wait({settled}, timeout=timeout)

    def _settle_probe(self) -> None:
        if self._probe_settled is not None and not self._probe_settled.done():
            self._probe_settled.set_result(None)
        self._probe_settled = None

    def probe_succeeded(self) -> None:
        """The probe PING/PONG went through: end the waiting poll so the client can upgrade."""
        self.upgrading = True
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(None)

    def end_probe(self, ws_send: WebSocketSend) -> None:
        if self._probe_send is ws_send:
            self._probe_send = None
            self.upgrading = False
            self._settle_probe()

    def attach_websocket(self, ws_send: WebSocketSend) -> None:
        """Make a WebSocket this session's transport (a new session, or a finished upgrade)."""
        if self.transport is Transport.POLLING:
            metrics.child(metrics.SESSIONS, Transport.POLLING.value).dec()
            metrics.child(metrics.SESSIONS, Transport.WEBSOCKET.value).inc()
        self.transport = Transport.WEBSOCKET
        self.upgrading = False
        self._probe_send = None
        self._settle_probe()
        self._ws_send = ws_send
        self._write_now = getattr(ws_send, "write_now", None)
        self._direct = getattr(ws_send, "direct_writer", None)
        self.lane = None
        if self._poll_waiter is not None and not self._poll_waiter.done():
            self._poll_waiter.set_result(None)  # the waiting GET ends with a NOOP
        if self._queue:
            self._ensure_ws_writer()

    def _ensure_ws_writer(self) -> None:
        """Write what is queued now; only a write that has to wait leaves a task behind."""
        if self._writing or (self._ws_writer is not None and not self._ws_writer.done()):
            return  # the writer under way takes the new frames too
        write_now, queue = self._write_now, self._queue
        if write_now is not None:  # no coroutine at all while the connection takes frames
            while queue and write_now(queue[0]):
                self._queued_bytes -= len(queue.pop(0))
            if not queue and self.state is SessionState.OPEN:
                return
        self.lane = None
        self._writing = True
        try:
            self._ws_writer = run_eagerly(self._write_ws())
        finally:
            self._writing = False

    async def _write_ws(self) -> None:
        send = self._ws_send
        if send is None:
            return
        try:
            while self._queue:
                frame = self._queue.pop(0)
                self._queued_bytes -= len(frame)
                await send(frame)
            if self.state is not SessionState.OPEN:
                await send(None, self._close_code)  # close the WebSocket
        except Exception:  # the socket went away under us
            logger.debug("session %s: websocket write failed", self.sid, exc_info=True)
            self.close("transport error", notify_client=False)
