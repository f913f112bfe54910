"""uvicorn's HTTP protocol (httptools) with a response's head and body written together.

uvicorn writes a response's status line and headers when the application sends
`http.response.start`, and its body at `http.response.body`: two `send()` syscalls and, with
Nagle off, two TCP segments, so the client is woken twice for one answer. A REST emit's answer
is a head and a small body sent in one go, and each write was ~10 % of its server CPU (py-spy,
bench/RESULTS.md). Here a response's first write (its head, or a `100 Continue`) waits for the
next write, which takes it along, or for the end of the loop turn (realtime.engineio.direct's
`Turn`, with the WebSocket frames): nothing waits longer than the turn it was written in.

It also answers the application's direct routes (realtime.directhttp, the REST emits) without
the ASGI cycle: the whole body read, the route's answer written in one go, its headers checked
as uvicorn checks them, once for each distinct set.

And a keep-alive connection keeps one timer: uvicorn arms one after every answer and cancels
it when the next request arrives, 1.7 µs a request on uvloop (~4 % of a REST emit's CPU).
Here an answer notes when the connection went idle and a request that it is busy; the timer,
when it fires, closes a connection idle for the whole timeout, or waits for the rest of it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from typing import Any

from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from .directhttp import DirectAnswer, DirectRoute, Headers
from .engineio.direct import turn_of

logger = logging.getLogger(__name__)
MAX_HEADER_SETS = 64  # distinct header sets of direct answers whose check is remembered


class HeadHeldTransport:
    """The transport of one request-response cycle: its first write waits for the second.
    (uvicorn's cycle calls `write`, `close` and `is_closing`, nothing else.)"""

    __slots__ = ("held", "passing", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.held: bytes | None = None
        self.passing = False  # the first write has gone: the rest go straight through

    def write_whole(self, data: bytes) -> None:
        """Write a whole answer now, after what waits."""
        self.passing = True
        held, self.held = self.held, None
        self.transport.write(data if held is None else held + data)

    def write(self, data: bytes) -> None:
        if self.passing:
            self.transport.write(data)
        elif self.held is None:
            self.held = bytes(data)
            turn_of(asyncio.get_running_loop()).add(self)
        else:
            held, self.held, self.passing = self.held, None, True
            self.transport.write(held + data)

    def flush(self) -> None:
        """Write what waits (at the end of the loop turn, or before the connection closes)."""
        self.passing = True
        held, self.held = self.held, None
        if held is not None and not self.transport.is_closing():
            self.transport.write(held)

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def is_closing(self) -> bool:
        return self.transport.is_closing()


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol; each request-response cycle writes through a
    HeadHeldTransport (a WebSocket upgrade keeps the connection's own transport), and the
    application's direct routes are answered without the ASGI cycle."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.direct_for = getattr(self.app, "direct", None)  # realtime.asgi.Application's
        self.idle_since: float | None = None  # loop time of the last answer, while idle

    # ----- keep-alive: one timer per connection (see the module docstring) -------------

    def _unset_keepalive_if_required(self) -> None:
        """uvicorn calls this when data arrives (and before arming): busy, timer kept."""
        self.idle_since = None

    def on_response_complete(self) -> None:
        if self.pipeline or self.transport.is_closing():
            return super().on_response_complete()  # the next request starts; nothing is armed
        self.server_state.total_requests += 1
        self.flow.resume_reading()
        self.idle_since = self.loop.time()
        if self.timeout_keep_alive_task is None:
            self._arm_keep_alive(self.timeout_keep_alive)

    def _arm_keep_alive(self, delay: float) -> None:
        self.timeout_keep_alive_task = self.loop.call_later(delay, self._keep_alive_due)

    def _keep_alive_due(self) -> None:
        self.timeout_keep_alive_task = None
        if self.idle_since is None:
            return  # busy: its answer arms the timer again
        remaining = self.idle_since + self.timeout_keep_alive - self.loop.time()
        if remaining > 0:
            self._arm_keep_alive(remaining)
        else:
            self.timeout_keep_alive_handler()  # uvicorn's: closes the connection

    def _cancel_keep_alive(self) -> None:
        self.idle_since = None
        if self.timeout_keep_alive_task is not None:
            self.timeout_keep_alive_task.cancel()
            self.timeout_keep_alive_task = None

    def handle_websocket_upgrade(self) -> None:
        self._cancel_keep_alive()  # the transport becomes the WebSocket's
        super().handle_websocket_upgrade()
        # This protocol is done with the connection. Its parser calls back into it, a cycle
        # uvicorn breaks only in `connection_lost`, which now goes to the WebSocket protocol:
        # broken here, the pair (~15 objects) is freed at once instead of by the collector,
        # which in a connect storm stalled every connection to find them.
        self.parser = None  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self._cancel_keep_alive()

    # ----- request-response cycles ---------------------------------------------------

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous:
            cycle.transport = HeadHeldTransport(cycle.transport)  # type: ignore[assignment]

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        """Start a request's cycle (now, or once the pipelined ones before it are answered):
        through a direct route when one takes it, else through the application."""
        taken = self._direct_route(cycle) if app is self.app else None
        if taken is None:
            return super()._start_asgi_task(cycle, app)
        task = self.loop.create_task(self._run_direct(cycle, *taken))
        task.add_done_callback(self.tasks.discard)
        self.tasks.add(task)

    def _direct_route(self, cycle: RequestResponseCycle) -> tuple[DirectRoute, object] | None:
        if self.direct_for is None:
            return None
        try:
            taken: tuple[DirectRoute, object] | None = self.direct_for(cycle.scope)
            return taken
        except Exception:  # the application answers instead, as if no route had taken it
            logger.exception("A direct route failed to look at a request")
            return None

    async def _run_direct(
        self, cycle: RequestResponseCycle, route: DirectRoute, ticket: object
    ) -> None:
        body = await _whole_body(cycle)
        if body is None:  # the client left: nobody to answer
            return
        try:
            answer = await self.app.answer_direct(route, ticket, body)
            if answer is None:  # given back: the application answers, from the same body
                cycle.body, cycle.more_body = bytearray(body), False
                cycle.message_event.set()
                return await cycle.run_asgi(self.app)
            await _write_answer(cycle, answer)
        except BaseException as exc:  # as uvicorn's cycle answers an application's failure
            logger.error("Exception in a direct route", exc_info=exc)
            if not cycle.response_started:
                await cycle.send_500_response()
            else:
                cycle.transport.close()
        finally:
            cycle.on_response = lambda: None


async def _whole_body(cycle: RequestResponseCycle) -> bytes | None:
    """The request's body (a direct route takes only what declares a bounded length); None
    when the client disconnected."""
    if not cycle.more_body and not cycle.waiting_for_100_continue and not cycle.disconnected:
        body = bytes(cycle.body)  # it came with the head (the usual case): nothing to wait for
        cycle.body.clear()
        return body
    chunks = []
    while True:
        message = await cycle.receive()  # answers `Expect: 100-continue`, resumes reading
        if message["type"] != "http.request":
            return None
        chunks.append(message["body"])
        if not message["more_body"]:
            return b"".join(chunks)


async def _write_answer(cycle: RequestResponseCycle, answer: DirectAnswer) -> None:
    """Write `answer` as the cycle's response, as uvicorn's `send` would write it in two."""
    if cycle.flow.write_paused and not cycle.disconnected:
        await cycle.flow.drain()
    if cycle.disconnected:
        return
    status, headers, body = answer
    head = [STATUS_LINE[status]]
    for name, value in cycle.default_headers:  # uvicorn's own (the Date)
        head += [name, b": ", value, b"\r\n"]
    head += [_checked_headers(headers), b"content-length: %d\r\n" % len(body)]
    if not cycle.keep_alive:
        head.append(b"connection: close\r\n")
    head += [b"\r\n", body]
    cycle.response_started = cycle.response_complete = True
    cycle.waiting_for_100_continue = False
    cycle.transport.write_whole(b"".join(head))  # type: ignore[attr-defined]
    cycle.message_event.set()
    if not cycle.keep_alive:
        cycle.transport.close()
    cycle.on_response()


@functools.lru_cache(maxsize=MAX_HEADER_SETS)
def _checked_headers(headers: Headers) -> bytes:
    """The header lines of `headers`, checked as uvicorn checks an application's (its
    RuntimeError, answered with a 500), without what the protocol writes itself."""
    lines = []
    for name, value in headers:
        if HEADER_RE.search(name) or HEADER_VALUE_RE.search(value):
            raise RuntimeError(f"Invalid HTTP header {name!r}: {value!r}")
        if name.lower() != name or name in (b"content-length", b"transfer-encoding", b"connection"):
            raise RuntimeError(f"A direct answer's header {name!r} is the protocol's to write")
        lines += [name, b": ", value, b"\r\n"]
    return b"".join(lines)
