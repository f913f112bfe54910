"""Group commit: calls from many sockets gathered into one call of a sync batch function.

Each event loop has its own queue. The first call starts a writer task; while one batch runs in
Django's database thread the next calls wait in the queue, and the writer takes all of them
(up to `max_batch`) as the next batch. A lone call goes at once, no timer delays it; under
load, N senders share one transaction instead of queueing N of them on the one thread.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

from .tasks import spawn

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")


@dataclass(slots=True)
class _Queue(Generic[I, R]):
    waiting: list[tuple[I, asyncio.Future[R]]] = field(default_factory=list)
    taken: list[tuple[I, asyncio.Future[R]]] = field(default_factory=list)
    writing: bool = False


class GroupCommit(Generic[I, R]):
    """`await submit(item)`: `batch(items)` runs in Django's database thread with every item
    waiting then, and returns one outcome per item, in order: its result, or the exception
    that item's caller gets. An exception out of `batch` itself goes to every caller of it.
    """

    def __init__(
        self, batch: Callable[[list[I]], Sequence[R | BaseException]], *, max_batch: int = 100
    ) -> None:
        self.batch = batch
        self.max_batch = max_batch
        self._queues: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Queue[I, R]] = (
            weakref.WeakKeyDictionary()
        )

    async def submit(self, item: I) -> R:
        loop = asyncio.get_running_loop()
        queue = self._queues.get(loop)
        if queue is None:
            queue = self._queues[loop] = _Queue()
        future: asyncio.Future[R] = loop.create_future()
        queue.waiting.append((item, future))
        if not queue.writing:
            queue.writing = True
            spawn(self._write(queue))
        return await future

    async def _write(self, queue: _Queue[I, R]) -> None:
        try:
            while queue.waiting:
                queue.taken = taken = queue.waiting[: self.max_batch]
                del queue.waiting[: self.max_batch]
                try:
                    outcomes = await database_sync_to_async(self.batch)([i for i, _ in taken])
                except Exception as exc:  # every caller of this batch hears of it
                    outcomes = [exc] * len(taken)
                for (_, future), outcome in zip(taken, outcomes, strict=True):
                    if future.done():  # its caller went away (the socket closed)
                        continue
                    if isinstance(outcome, BaseException):
                        future.set_exception(outcome)
                    else:
                        future.set_result(outcome)
                queue.taken = []
        finally:
            queue.writing = False
            for _, future in queue.taken + queue.waiting:  # the writer was cancelled (shutdown)
                if not future.done():
                    future.cancel()
            queue.taken, queue.waiting = [], []
