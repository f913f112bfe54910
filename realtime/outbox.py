"""The hub's sends to the channel layer, in order, without holding up whoever emitted.

Awaiting each broadcast's PUBLISH held a socket's next event behind a Redis round trip: a
sender's messages were handled one per loop turn or slower, and so were their local
deliveries, leaving the cork nothing to coalesce (bench scenario 4: one `send()` syscall per
delivered frame). The outbox sends what it is given in that order, one at a time, from one
task (channels_redis's pub/sub shard serializes its publishes behind a lock anyway): a
broadcast's emitter goes on once its remote part is queued, and waits only while
`max_pending` sends are queued. Group sends queued one after another leave together, in one
call of `publish` (one Redis round trip on the pub/sub layer, realtime.pipelined). A send whose
caller must know it went (a message to one socket, a disconnect) waits for its own turn, so it
never overtakes a broadcast emitted before it; a failing layer holds what it cannot send
(realtime.layerlink).
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from .pipelined import Pairs, Publisher
from .tasks import spawn

logger = logging.getLogger(__name__)

Send = Callable[[], Awaitable[None]]
Receivers = list[int] | None  # how many processes each group send reached, if known
MAX_PENDING = 64  # a queued broadcast waits at most this many round trips to Redis


@dataclass(slots=True)
class _Entry:
    """A send of its own, or group sends (`pairs`) that may leave with their neighbours."""

    send: Send | None
    pairs: Pairs | None
    done: asyncio.Future[Receivers] | None  # for a caller who waits until it has gone


class Outbox:
    def __init__(self, publish: Publisher, max_pending: int = MAX_PENDING) -> None:
        """`publish(pairs)` sends (group, message) pairs in their order, and may say how many
        processes each reached."""
        self.publish = publish
        self.max_pending = max_pending
        self._queue: deque[_Entry] = deque()
        self._sender: asyncio.Task[None] | None = None
        self._waiting_for_room: list[asyncio.Future[None]] = []

    def __len__(self) -> int:
        return len(self._queue)

    async def post(self, send: Send) -> None:
        """Queue `send` behind everything posted before it; back at once unless full."""
        await self._post(_Entry(send, None, None))

    async def send(self, send: Send) -> None:
        """Queue `send` behind everything posted before it and wait until it has run (its
        exception, if any, is raised here)."""
        await self._wait(_Entry(send, None, None))

    async def post_group_sends(self, pairs: Pairs, *, wait: bool = False) -> Receivers:
        """Queue group sends, (group, message) pairs, as `post` does (`send` with `wait`);
        they leave with the group sends queued next to them. With `wait`, returns how many
        processes each reached where the layer says (the pub/sub layer's PUBLISH does)."""
        entry = _Entry(None, pairs, None)
        if wait:
            return await self._wait(entry)
        await self._post(entry)
        return None

    async def _post(self, entry: _Entry) -> None:
        while len(self._queue) >= self.max_pending:
            room: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting_for_room.append(room)
            self._start()
            await room
        self._queue.append(entry)
        self._start()

    async def _wait(self, entry: _Entry) -> Receivers:
        entry.done = asyncio.get_running_loop().create_future()
        self._queue.append(entry)
        self._start()
        return await entry.done

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
                entries = self._next_entries()
                self._make_room()
                try:
                    receivers = await self._go(entries)
                except Exception as exc:
                    if any(entry.done is None for entry in entries):
                        logger.exception("layer send failed")
                    _settle(entries, exc, None)
                    continue
                _settle(entries, None, receivers)
        finally:
            if self._sender is asyncio.current_task():
                self._sender = None
            self._make_room()

    def _next_entries(self) -> list[_Entry]:
        """The next send, or the group sends queued one after another (`max_pending` at most)."""
        entries = [self._queue.popleft()]
        if entries[0].pairs is None:
            return entries
        while self._queue and self._queue[0].pairs is not None and len(entries) < self.max_pending:
            entries.append(self._queue.popleft())
        return entries

    async def _go(self, entries: list[_Entry]) -> Receivers:
        send = entries[0].send
        if send is not None:
            await send()
            return None
        return await self.publish([pair for entry in entries for pair in entry.pairs or ()])

    def _make_room(self) -> None:
        if self._waiting_for_room and len(self._queue) < self.max_pending:
            waiting, self._waiting_for_room = self._waiting_for_room, []
            for room in waiting:
                if not room.done():
                    room.set_result(None)


def _settle(entries: list[_Entry], exc: Exception | None, receivers: Receivers) -> None:
    """Tell the callers who wait how their sends went (and whom each group send reached)."""
    start = 0
    for entry in entries:
        end = start + len(entry.pairs or ())
        if entry.done is not None and not entry.done.done():
            if exc is not None:
                entry.done.set_exception(exc)
            else:
                entry.done.set_result(None if receivers is None else receivers[start:end])
        start = end


async def _nothing() -> None:
    return None
