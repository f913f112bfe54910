"""One HTTP request through an ASGI application, in process: the scope, the body in chunks,
and what the application sent back."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

LOOPBACK = ("127.0.0.1", 50000)


@dataclass
class Answer:
    status: int
    headers: list[tuple[bytes, bytes]]  # lower-case names, sorted: compared as HTTP does
    body: bytes


async def http_request(
    app: Any,
    method: str,
    path: str,
    *,
    headers: Iterable[tuple[bytes, bytes]] = (),
    chunks: Iterable[bytes] = (b"",),
    query: bytes = b"",
    client: tuple[str, int] = LOOPBACK,
    server: tuple[str, int] = ("testserver", 80),
) -> Answer:
    """Send the request (its body in `chunks`) to `app` and collect the answer; after the
    body, `receive` waits as a server does until the application is done."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": list(headers),
        "client": client,
        "server": server,
    }
    body = list(chunks)
    inbox = [
        {"type": "http.request", "body": chunk, "more_body": n < len(body) - 1}
        for n, chunk in enumerate(body)
    ]
    done = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if inbox:
            return inbox.pop(0)
        await done.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    try:
        await app(scope, receive, send)
    finally:
        done.set()
    start = sent[0]
    return Answer(
        start["status"],
        sorted((name.lower(), value) for name, value in start["headers"]),
        b"".join(message.get("body", b"") for message in sent[1:]),
    )
