"""Group commit: calls from many sockets gathered into one call of a sync batch function.

Each event loop has its own queue. The first call starts a writer; while one batch runs in
Django's database thread the next calls wait in the queue, and the next batch takes all of them
(up to `max_batch`). A lone call goes at once, no timer delays it; under load, N senders share
one transaction instead of queueing N of them on the one thread.

Two calls of the batch function are queued in the database thread at a time, and each takes
its items when it starts there, not when it was queued. So the thread goes from one batch
straight to the next, while the loop answers the last batch's callers and runs what its commit
scheduled (a batch of messages' emits: ~12 ms of the loop for 50). The thread hands the
outcomes to the loop itself, in one callback with what the batch's commits scheduled there
(`to_loop`): the callers first, so their acks do not wait for the emits. With one call at a
time, answered by the writer task, the thread and the loop took turns and each ack waited for
its batch's emits: scenario 5 of the bench on PostgreSQL went from ~1,150 to ~1,370
messages/s (bench/RESULTS.md).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import weakref
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from channels.db import database_sync_to_async

from .tasks import spawn

I = TypeVar("I")  # noqa: E741 - an item
R = TypeVar("R")

IN_FLIGHT = 2  # calls of the batch function queued in the database thread at a time

logger = logging.getLogger(__name__)

Callback = Callable[[], None]
_handing = threading.local()  # .off: (loop, callbacks) while a batch runs in this thread


def to_loop(loop: asyncio.AbstractEventLoop, callback: Callback) -> None:
    """Call `callback` on `loop` from this thread. During a batch (`GroupCommit`) for that
    loop, it goes with the batch's hand-off, after the batch's callers are answered: two
    separate `call_soon_threadsafe` calls may land in different turns of the loop, in either
    order with what they wake."""
    held = getattr(_handing, "off", None)
    if held is not None and held[0] is loop:
        held[1].append(callback)
    else:
        loop.call_soon_threadsafe(callback)


Call = tuple[I, "asyncio.Future[R]"]


@dataclass(slots=True)
class _Queue(Generic[I, R]):
    # appended on the loop, taken from in the database thread: deque's ends are thread-safe
    waiting: deque[Call[I, R]] = field(default_factory=deque)
    writers: int = 0  # writer tasks, each with at most one call in the database thread


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
        if queue.writers < IN_FLIGHT:
            queue.writers += 1
            spawn(self._write(queue))
        return await future

    async def _write(self, queue: _Queue[I, R]) -> None:
        """Queue a call in the database thread, while any callers are waiting."""
        taken: list[Call[I, R]] = []  # the calls of the batch in the thread, filled there
        loop = asyncio.get_running_loop()
        try:
            while queue.waiting:
                taken = []
                await database_sync_to_async(self._run)(queue, taken, loop)
            taken = []  # the last batch's callers are settled by the thread's hand-off
        finally:
            queue.writers -= 1
            left = taken + (list(queue.waiting) if not queue.writers else [])
            for _, future in left:  # the writer was cancelled (shutdown)
                if not future.done():
                    future.cancel()

    def _run(
        self, queue: _Queue[I, R], taken: list[Call[I, R]], loop: asyncio.AbstractEventLoop
    ) -> None:
        """In the database thread: take the calls waiting now, run them as one batch, and
        hand their outcomes to the loop, with what the batch scheduled there (`to_loop`)."""
        while queue.waiting and len(taken) < self.max_batch:
            taken.append(queue.waiting.popleft())
        if not taken:
            return
        held: list[Callback] = []
        _handing.off = (loop, held)
        try:
            outcomes = self.batch([item for item, _ in taken])
        except Exception as exc:  # every caller of this batch hears of it
            outcomes = [exc] * len(taken)
        finally:
            _handing.off = None
        with contextlib.suppress(RuntimeError):  # the loop is closed (shutdown): nobody waits
            loop.call_soon_threadsafe(_settle, list(taken), outcomes, held)


def _settle(
    taken: list[Call[I, R]], outcomes: Sequence[R | BaseException], then: list[Callback]
) -> None:
    """On the loop: each caller gets its outcome, then what the batch scheduled runs (a task
    it starts takes its first step after the callers' own)."""
    for (_, future), outcome in zip(taken, outcomes, strict=True):
        if future.done():  # its caller went away (the socket closed)
            continue
        if isinstance(outcome, BaseException):
            future.set_exception(outcome)
        else:
            future.set_result(outcome)
    for callback in then:
        try:
            callback()
        except Exception:
            logger.exception("a callback of a batch failed")
