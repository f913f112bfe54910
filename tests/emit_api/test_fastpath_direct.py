"""The REST emits' fast path as a direct route of the uvicorn workers (realtime.directhttp): over
the wire, every request gets the answer Django gives, and only what succeeds skips the ASGI
application.

Two real uvicorn servers, configured as `serve` configures a worker: one with the fast path
as a direct route in front of the application, one with Django alone."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from urllib.parse import quote, quote_from_bytes

import pytest

from config.asgi import application, django_asgi_app, emit_fast_path
from emit_api.fastpath import EmitFastPath
from realtime import tasks
from realtime.asgi import Application, MountRouter
from tests.emit_api.test_fastpath import DECLINED, JSON, SUCCEEDING, Counting
from tests.support import inprocess_uvicorn
from tests.support.http_wire import WireAnswer, read_answer

pytestmark = pytest.mark.django_db(transaction=True)


def wire_request(
    path: str,
    *,
    method: str = "POST",
    query: bytes = b"",
    headers: list[tuple[bytes, bytes]] = JSON,
    body: bytes | list[bytes] = b"",
    client: tuple[str, int] | None = None,
    length: bool = True,
) -> list[bytes]:
    """test_fastpath's request as the pieces a client writes; a client other than loopback
        comes through a trusted proxy (loopback), no length means a chunked body, and the target is
    percent-encoded as a client must."""
    chunks = body if isinstance(body, list) else [body]
    all_headers = [(b"host", b"127.0.0.1:4000"), *headers]
    if client is not None:
        all_headers.append((b"x-forwarded-for", client[0].encode()))
    if length:
        all_headers.append((b"content-length", b"%d" % len(b"".join(chunks))))
    else:
        all_headers.append((b"transfer-encoding", b"chunked"))
        chunks = [b"%x\r\n%s\r\n" % (len(chunk), chunk) for chunk in chunks if chunk] + [
            b"0\r\n\r\n"
        ]
    target = quote(path, safe="/%") + ("?" + quote_from_bytes(query, safe="=&%") if query else "")
    head = f"{method} {target} HTTP/1.1\r\n".encode("latin-1")
    head += b"".join(name + b": " + value + b"\r\n" for name, value in all_headers)
    return [head + b"\r\n", *chunks]


async def exchange(port: int, pieces: list[bytes]) -> WireAnswer:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(0.01)  # the body in pieces, as test_fastpath sends it
        answer = await read_answer(reader)
    finally:
        writer.close()
    await asyncio.gather(*list(tasks._running))  # e.g. the offline push of a user emit
    answer.headers = sorted(header for header in answer.headers if header[0] != b"date")
    return answer


@contextlib.asynccontextmanager
async def servers() -> AsyncIterator[tuple[int, int, Counting, Counting]]:
    """(direct port, Django's port, the application behind the route, Django behind both)."""
    django = Counting(django_asgi_app)
    fast = EmitFastPath(django)
    behind = Counting(fast)
    direct = Application(MountRouter({}, behind), [fast])
    alone = Application(MountRouter({}, django_asgi_app))
    async with (
        inprocess_uvicorn.serving(direct) as (direct_port, _),
        inprocess_uvicorn.serving(alone) as (django_port, _),
    ):
        yield direct_port, django_port, behind, django


async def test_what_succeeds_is_answered_directly_as_django_answers_it() -> None:
    async with servers() as (direct_port, django_port, behind, django):
        for path, request_ in SUCCEEDING:
            pieces = wire_request(path, **request_)
            answer = await exchange(direct_port, pieces)
            assert answer == await exchange(django_port, pieces), path
            assert answer.status == 200, (path, answer.body)
    assert (behind.calls, django.calls) == (0, 0)


async def test_everything_else_reaches_django_and_is_answered_as_it_answers() -> None:
    async with servers() as (direct_port, django_port, behind, django):
        for n, (path, request_) in enumerate(DECLINED, start=1):
            pieces = wire_request(path, **request_)
            answer = await exchange(direct_port, pieces)
            assert answer == await exchange(django_port, pieces), (path, request_)
            assert (behind.calls, django.calls) == (n, n), (path, request_)


async def test_a_serving_worker_takes_emits_through_its_direct_route() -> None:
    """config.asgi's application offers the fast path to the workers' protocol."""

    scope = {
        "type": "http", "method": "POST", "path": "/emit/u1/hello", "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 5000),
        "headers": [(b"host", b"127.0.0.1:4000"), (b"content-length", b"2"), *JSON],
    }  # fmt: skip
    route, _ticket = application.direct(scope)
    assert route is emit_fast_path
