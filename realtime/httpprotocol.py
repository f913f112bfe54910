"""uvicorn's HTTP protocol (httptools) with a response's head and body written together.

uvicorn writes a response's status line and headers when the application sends
`http.response.start`, and its body at `http.response.body`: two `send()` syscalls and, with
Nagle off, two TCP segments, so the client is woken twice for one answer. A REST emit's answer
is a head and a small body sent in one go, and each write was ~10 % of its server CPU (py-spy,
bench/RESULTS.md). Here a response's first write (its head, or a `100 Continue`) waits for the
next write, which takes it along, or for the end of the loop turn (realtime.engineio.direct's
`Turn`, with the WebSocket frames): nothing waits longer than the turn it was written in.
"""

from __future__ import annotations

import asyncio

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .engineio.direct import turn_of


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
    HeadHeldTransport (a WebSocket upgrade keeps the connection's own transport)."""

    def on_headers_complete(self) -> None:
        previous = self.cycle
        super().on_headers_complete()
        cycle = self.cycle
        if cycle is not None and cycle is not previous:
            cycle.transport = HeadHeldTransport(cycle.transport)  # type: ignore[assignment]
