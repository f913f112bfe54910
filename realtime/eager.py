"""Run a coroutine at once, up to its first suspension, and make a task only if it suspends.

The WebSocket writer of a session is the hot path of every broadcast: one wake-up per socket
per message. Its ASGI `send` almost never suspends (uvicorn waits only while the transport is
paused; daphne never), so a task per wake-up costs more than the write itself. The direct
HTTP answers (realtime.httpprotocol) start the same way. Python 3.12's eager task factory does
this for every task; this is the same for these call sites on 3.11, with one difference: what
runs before the first suspension sees the caller's task as the current one, not its own.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Coroutine, Generator
from typing import Any


def run_eagerly(
    coro: Coroutine[Any, Any, None], context: contextvars.Context | None = None
) -> asyncio.Task[None] | None:
    """Start `coro` now; None if it finished without suspending, else the task that goes on
    with it (an exception it raised before suspending propagates here).

    With `context`, every step runs in that one context, the first too: a context variable
    set before the coroutine first waits can be reset after it (Django's request handler
    does). Without, the first step runs in the caller's context and the task in a copy."""
    try:
        yielded = coro.send(None) if context is None else context.run(coro.send, None)
    except StopIteration:
        return None
    return asyncio.get_running_loop().create_task(_Resumed(coro, yielded), context=context)


_NOTHING = object()


class _Resumed(Coroutine[Any, Any, None]):
    """A started coroutine as a task's coroutine: the task's first step gets what it yielded
    (the future it waits on); every later step, throws included (a cancellation before the
    first step too), goes straight to it."""

    def __init__(self, coro: Coroutine[Any, Any, None], yielded: Any) -> None:
        self.coro = coro
        self.pending = yielded

    def send(self, value: Any) -> Any:
        if self.pending is not _NOTHING:
            yielded, self.pending = self.pending, _NOTHING
            return yielded
        return self.coro.send(value)

    def throw(self, *args: Any) -> Any:
        self.pending = _NOTHING
        return self.coro.throw(*args)

    def close(self) -> None:
        self.coro.close()

    def __await__(self) -> Generator[Any, Any, None]:
        raise TypeError("a resumed coroutine runs as a task; it is not awaited")
