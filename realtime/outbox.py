"""The hub's sends to the channel layer, in order, without holding up whoever emitted.

Awaiting each broadcast's PUBLISH held a socket's next event behind a Redis round trip: a
sender's messages were handled one per loop turn or slower, and so were their local
deliveries, leaving the cork nothing to coalesce (bench scenario 4: one `send()` syscall per
delivered frame). The outbox sends what it is given in that order, one at a time, from one
task (channels_redis's pub/sub shard serializes its publishes behind a lock anyway): a
broadcast's emitter goes on once its remote part is queued, and waits only while
`max_pending` sends are queued. A send whose caller must know it went (a message to one
socket, a disconnect) waits for its own turn, so it never overtakes a broadcast emitted
before it; a failing layer holds what it cannot send (realtime.layerlink).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable

from .tasks import spawn

logger = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]
MAX_PENDING = 64  # a queued broadcast waits at most this many round trips to Redis


class Outbox:
    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self.max_pending = max_pending
        self._queue: deque[tuple[Send, asyncio.Future[None] | None]] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._waiting_for_room: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._queue)

    async def post(self, send: Send) -> None:
        """Queue `send` behind everything posted before it; back at once unless full."""
        while len(self._queue) >= self.max_pending:
            room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting_for_room.append(room)
            self._start()
            await room
        self._queue.append((send, None))
        self._start()

    async def send(self, send: Send) -> None:
        """Queue `send` behind everything posted before it and wait until it has run (its
        exception, if any, is raised here)."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.append((send, done))
        self._start()
        await done

    async def drained(self) -> None:
        """Wait until everything queued so far has been sent (graceful shutdown)."""
        if self._queue:
            await self.send(_nothing)

    def _start(self) -> None:
        sender = self._sender
        if sender is None or sender.done() or sender.get_loop() is not asyncio.get_running_loop():
            self._sender = spawn(self._run())  # (a sender of a closed loop never finishes)

    async def _run(self) -> None:
        try:
            while self._queue:
                send, done = self._queue.popleft()
                self._make_room()
                try:
                    await send()
                except Exception as exc:
                    if done is None:
                        logger.exception("layer send failed")
                    elif not done.done():
                        done.set_exception(exc)
                    continue
                if done is not None and not done.done():
                    done.set_result(None)
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None
            self._make_room()

    def _make_room(self) -> None:
        if self._waiting_for_room and len(self._queue) < self.max_pending:
            waiting, self._waiting_for_room = self._waiting_for_room, []
            for room in waiting:
                if not room.done():
                    room.set_result(None)


async def _nothing() -> None:
    return None
