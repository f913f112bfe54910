"""uvicorn's HTTP protocol (httptools) with a response's head and body written together.

uvicorn writes a response's status line and headers when the application sends
`http.response.start`, and its body at `http.response.body`: two `send()` syscalls and, with
Nagle off, two TCP segments, so the client is woken twice for one answer. A REST emit's answer
is a head and a small body sent in one go, and each write was ~10 % of its server CPU (py-spy,
bench/RESULTS.md). Here a response's first write (its head, or a `100 Continue`) waits for the
next write, which takes it along, or for the end of the loop turn (realtime.engineio.direct's
`Turn`, with the WebSocket frames): nothing waits longer than the turn it was written in.

It also answers the application's direct routes (realtime.directhttp, the REST emits) without
the ASGI cycle: a route takes a request from its head, and the request is a DirectExchange
rather than uvicorn's cycle (no asyncio.Event, no ASGI messages); once its body is whole and
its turn has come, the route's answer is written in one go, its headers checked as uvicorn
checks them, once for each distinct set. With the fast path's own checks trimmed, that took a
REST emit from ~40 to ~34 µs of CPU (bench/RESULTS.md).

And a keep-alive connection keeps one timer: uvicorn arms one after every answer and cancels
it when the next request arrives, 1.7 µs a request on uvloop (~4 % of a REST emit's CPU).
Here an answer notes when the connection went idle and a request that it is busy; the timer,
when it fires, closes a connection idle for the whole timeout, or waits for the rest of it.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import urllib.parse
import weakref
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import (
    HEADER_RE,
    HEADER_VALUE_RE,
    STATUS_LINE,
    HttpToolsProtocol,
    RequestResponseCycle,
)

from .directhttp import DirectAnswer, DirectRoute, Headers
from .eager import run_eagerly
from .engineio.direct import turn_of

logger = logging.getLogger(__name__)
MAX_HEADER_SETS = 64  # distinct header sets of direct answers whose check is remembered
CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
# what uvicorn answers when the application fails before its response starts
SERVER_ERROR = DirectAnswer(
    500, ((b"content-type", b"text/plain; charset=utf-8"),), b"Internal Server Error"
)


class HeadHeldTransport:
    """The transport of one request-response cycle: its first write waits for the second.
    (uvicorn's cycle calls `write`, `close` and `is_closing`, nothing else.)"""

    __slots__ = ("held", "passing", "transport")

    def __init__(self, transport: asyncio.Transport) -> None:
        self.transport = transport
        self.held: bytes | None = None
        self.passing = False  # the first write has gone: the rest go straight through

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
        self.reading: DirectExchange | None = None  # the exchange whose body is being read
        self.due = due_answers_of(self.loop)  # where its exchanges wait for their answers

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

    # ----- direct routes: a request taken from its head to its answer, without a cycle -----

    def connection_lost(self, exc: Exception | None) -> None:
        if isinstance(self.cycle, DirectExchange):
            self.cycle = None  # uvicorn marks a cycle disconnected; an exchange sees the close
        self.reading = None
        super().connection_lost(exc)
        self._cancel_keep_alive()

    def on_headers_complete(self) -> None:
        exchange = self._direct_exchange()
        if exchange is None:
            previous = self.cycle
            super().on_headers_complete()
            cycle = self.cycle
            if cycle is not None and cycle is not previous:
                cycle.transport = HeadHeldTransport(cycle.transport)  # type: ignore[assignment]
            return
        previous, self.cycle, self.reading = self.cycle, exchange, exchange  # type: ignore[assignment]
        if previous is None or previous.response_complete:
            self._start(exchange)
        else:  # pipelined: its turn comes in uvicorn's on_response_complete (_start_asgi_task)
            self.flow.pause_reading()
            self.pipeline.appendleft((exchange, self.app))  # type: ignore[arg-type]

    def _direct_exchange(self) -> DirectExchange | None:
        """The exchange of the request whose head was just read, when a direct route takes it
        (the scope filled in as uvicorn fills it); None for uvicorn's cycle."""
        parser = self.parser
        if self.direct_for is None or parser.should_upgrade() or self.limit_concurrency is not None:
            return None
        scope: dict[str, Any] = self.scope  # type: ignore[assignment]
        scope["method"] = parser.get_method().decode("ascii")
        http_version = parser.get_http_version()
        if http_version != "1.1":
            scope["http_version"] = http_version
        url = httptools.parse_url(self.url)
        path = url.path.decode("ascii")
        if "%" in path:
            path = urllib.parse.unquote(path)
        scope["path"] = self.root_path + path
        scope["raw_path"] = self.root_path.encode("ascii") + url.path
        scope["query_string"] = url.query or b""
        try:
            taken: tuple[DirectRoute, object] | None = self.direct_for(scope)
        except Exception:  # the application answers instead, as if no route had taken it
            logger.exception("A direct route failed to look at a request")
            return None
        if taken is None:
            return None
        keep_alive = http_version != "1.0" and parser.should_keep_alive()
        return DirectExchange(scope, *taken, keep_alive, self.expect_100_continue)

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if isinstance(cycle, DirectExchange):  # a pipelined exchange's turn
            return self._start(cycle)
        super()._start_asgi_task(cycle, app)

    def _start(self, exchange: DirectExchange) -> None:
        """The exchange's turn on the connection: answered once its body is whole."""
        exchange.started = True
        if exchange.complete:
            self.due.add(self, exchange)
        elif exchange.expect_100_continue:
            self.transport.write(CONTINUE)

    def on_body(self, body: bytes) -> None:
        if self.reading is None:
            return super().on_body(body)
        self.reading.body += body  # the route took a declared, bounded length

    def on_message_complete(self) -> None:
        exchange = self.reading
        if exchange is None:
            return super().on_message_complete()
        self.reading = None
        exchange.complete = True
        if exchange.started:
            self.due.add(self, exchange)

    def answer_eagerly(self, exchange: DirectExchange) -> None:
        """Answer `exchange` now, in a context of its own, as far as it goes without waiting;
        a task goes on with it if it must wait."""
        try:
            task = run_eagerly(self._answer(exchange), contextvars.copy_context())
        except Exception:  # a bug past the route's own failures: nothing more can be answered
            logger.exception("Exception in a direct route")
            self.transport.close()
            return
        if task is not None:
            task.add_done_callback(self.tasks.discard)
            self.tasks.add(task)

    async def _answer(self, exchange: DirectExchange) -> None:
        try:
            answer = await self.app.answer_direct(
                exchange.route, exchange.ticket, bytes(exchange.body)
            )
            if answer is None:  # given back: the application answers, from the same body,
                return self._give_back(exchange)  # in a task of its own, as uvicorn runs it
            written = self._answer_bytes(answer, exchange.keep_alive)
        except BaseException as exc:  # as uvicorn's cycle answers an application's failure
            logger.error("Exception in a direct route", exc_info=exc)
            written, exchange.keep_alive = self._answer_bytes(SERVER_ERROR, False), False
        if self.flow.write_paused and not self.transport.is_closing():
            await self.flow.drain()
        if self.transport.is_closing():
            return  # the client left: nobody to answer
        exchange.response_complete = True
        self.transport.write(written)
        if not exchange.keep_alive:
            self.transport.close()
        self.on_response_complete()

    def _answer_bytes(self, answer: DirectAnswer, keep_alive: bool) -> bytes:
        """`answer` as uvicorn's `send` would write it (in two writes)."""
        status, headers, body = answer
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:  # uvicorn's own (the Date)
            head += [name, b": ", value, b"\r\n"]
        head += [_checked_headers(headers), b"content-length: %d\r\n" % len(body)]
        if not keep_alive:
            head.append(b"connection: close\r\n")
        head += [b"\r\n", body]
        return b"".join(head)

    def _give_back(self, exchange: DirectExchange) -> None:
        """Answer the exchange through the application, as uvicorn's cycle, its body whole."""
        cycle = RequestResponseCycle(
            scope=exchange.scope,  # type: ignore[arg-type]
            transport=HeadHeldTransport(self.transport),  # type: ignore[arg-type]
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=exchange.keep_alive,
            on_response=self.on_response_complete,
        )
        cycle.body, cycle.more_body = exchange.body, False
        cycle.message_event.set()
        if self.cycle is exchange:  # uvicorn's shutdown and connection_lost see the cycle
            self.cycle = cycle
        super()._start_asgi_task(cycle, self.app)


class DueAnswers:
    """The exchanges of one event loop whose answers are due, answered together by one task
    in its next turn, each as far as it goes without waiting (realtime.eager).

    As with a task per exchange, the turn that reads the requests ends before any is
    answered: under load it reads every ready connection first, and the next turn answers
    them all. Answered from inside the parse instead, the clients were woken sooner, sent
    fewer requests per turn, and the turn's own cost was paid more often: measured slower
    (bench/RESULTS.md). With one task for all instead of one each (a task's creation, its
    step, the set of tasks it joins and leaves), a REST emit costs ~1.1 µs less of its ~34
    (bench/restpath.py); REST runs gave +5-8 % at first, within their noise later.

    The task is there for what runs eagerly: code that asks for the current task (asyncio's
    `timeout`, in redis-py's reads: a relayed socket's frame goes to Redis from within an
    emit) gets this one. A timeout entered there that is still open when its coroutine first
    waits stays bound to this task, which is done by then: it no longer cancels the wait.
    (The session's eager writer, realtime.engineio.session, has the same limit, bound to its
    caller's task instead.)
    """

    __slots__ = ("exchanges",)

    def __init__(self) -> None:  # no reference to the loop: it is the key of `_due_answers`
        self.exchanges: list[tuple[HttpProtocol, DirectExchange]] = []

    def add(self, protocol: HttpProtocol, exchange: DirectExchange) -> None:
        if not self.exchanges:
            task = protocol.loop.create_task(self.answer_all())
            task.add_done_callback(protocol.tasks.discard)  # the server waits for it to stop
            protocol.tasks.add(task)
        self.exchanges.append((protocol, exchange))

    async def answer_all(self) -> None:
        exchanges, self.exchanges = self.exchanges, []
        for protocol, exchange in exchanges:
            protocol.answer_eagerly(exchange)


_due_answers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, DueAnswers] = (
    weakref.WeakKeyDictionary()
)


def due_answers_of(loop: asyncio.AbstractEventLoop) -> DueAnswers:
    """The one DueAnswers of `loop`."""
    due = _due_answers.get(loop)
    if due is None:
        due = _due_answers[loop] = DueAnswers()
    return due


class DirectExchange:
    """A request a direct route took, from its head to its answer.

    It stands where uvicorn keeps a request's cycle (`HttpToolsProtocol.cycle`, and its
    pipeline), answering what uvicorn asks of one (`response_complete`; `keep_alive`, which
    `shutdown` clears) without the cycle's objects: an asyncio.Event, the ASGI messages. It is
    answered once it is the connection's turn (`started`) and its body is whole (`complete`);
    it writes `100 Continue` when its turn comes first.
    """

    __slots__ = (
        "body",
        "complete",
        "expect_100_continue",
        "keep_alive",
        "response_complete",
        "route",
        "scope",
        "started",
        "ticket",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        route: DirectRoute,
        ticket: object,
        keep_alive: bool,
        expect_100_continue: bool,
    ) -> None:
        self.scope = scope  # for the application, if the route gives the request back
        self.route = route
        self.ticket = ticket
        self.keep_alive = keep_alive
        self.expect_100_continue = expect_100_continue
        self.body = bytearray()
        self.started = self.complete = self.response_complete = False


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
