"""HTTP routes a uvicorn worker answers without the ASGI request cycle.

A REST emit costs the server ~45 µs of CPU, and a third of it was the cycle around the emit
rather than the emit: the ASGI layers each request passes through, the `http.response.*`
messages and uvicorn's checks of every response header (py-spy, bench/RESULTS.md). A direct
route is asked, from a request's head alone, whether it answers the request (`take`, which
gives a ticket or None); the worker's HTTP protocol (realtime.httpprotocol) then reads the
whole body and asks for the answer (`answer`). An answer of None gives the request back: it
goes through the ASGI application as any other, its body replayed.

The same route serves as ASGI middleware too (emit_api.fastpath), so daphne and in-process
callers get the same answers through the application.
"""

from __future__ import annotations

from typing import Any, NamedTuple, Protocol

Scope = dict[str, Any]
Headers = tuple[tuple[bytes, bytes], ...]


class DirectAnswer(NamedTuple):
    """An HTTP answer: the protocol adds its default headers, Content-Length and, when the
    connection ends, `Connection: close`. `headers` are lower-case, and the same few tuples
    over and over (the protocol checks each distinct tuple once)."""

    status: int
    headers: Headers
    body: bytes


class DirectRoute(Protocol):
    def take(self, scope: Scope) -> object | None:
        """A ticket when this route answers the request `scope` describes (the scope as the
        application would see it, client behind a trusted proxy included); None otherwise.
        The protocol reads a taken request's whole body into memory: take only a request
        whose Content-Length is declared and bounded."""

    async def answer(self, ticket: Any, body: bytes) -> DirectAnswer | None:
        """The answer to the request `ticket` was given for, with its whole body; None to
        give the request to the ASGI application."""
