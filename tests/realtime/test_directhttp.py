"""Direct routes (realtime.directhttp), answered by the workers' HTTP protocol on a real uvicorn
without the ASGI cycle; what they give back, or fail on, reaches the application."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import pytest

from realtime.asgi import Application, MountRouter
from realtime.directhttp import DirectAnswer
from tests.support import inprocess_uvicorn
from tests.support.http_wire import read_answer, request

HEADERS = ((b"content-type", b"text/plain"), (b"x-route", b"echo"))


class EchoRoute:
    """Takes /direct/...: echoes the body with status 201; some paths misbehave on purpose."""

    def __init__(self) -> None:
        self.scopes: list[dict] = []
        self.answered: list[bytes] = []

    def take(self, scope: dict) -> object | None:
        if scope["path"] == "/take-fails":
            raise ValueError("a bug in take")
        if not scope["path"].startswith("/direct/"):
            return None
        self.scopes.append(scope)
        return scope["path"]

    async def answer(self, ticket: Any, body: bytes) -> DirectAnswer | None:
        self.answered.append(body)
        if ticket == "/direct/back":
            return None
        if ticket == "/direct/fail":
            raise RuntimeError("a bug in answer")
        if ticket == "/direct/bad-header":
            return DirectAnswer(200, ((b"x-bad", b"a\r\nx-injected: 1"),), b"")
        if ticket == "/direct/length":
            return DirectAnswer(200, ((b"content-length", b"1"),), b"")
        if ticket == "/direct/slow":
            await asyncio.sleep(0.2)
        return DirectAnswer(201, HEADERS, body)


class EchoApp:
    """The ASGI application behind: echoes the body with status 200."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        body, more = b"", True
        while more:
            message = await receive()
            body, more = body + message.get("body", b""), message.get("more_body", False)
        self.bodies.append(body)
        headers = [(b"x-app", b"yes"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})


@contextlib.asynccontextmanager
async def served() -> AsyncIterator[tuple[int, EchoRoute, EchoApp]]:
    route, app = EchoRoute(), EchoApp()
    application = Application(MountRouter({}, app), [route])
    async with inprocess_uvicorn.serving(application) as (port, _):
        yield port, route, app


@contextlib.asynccontextmanager
async def connection(port: int) -> AsyncIterator[tuple[asyncio.StreamReader, Any]]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        yield reader, writer
    finally:
        writer.close()


async def test_a_taken_request_is_answered_by_the_route_alone() -> None:
    async with served() as (port, route, app), connection(port) as (reader, writer):
        for body in (b"one", b"", b"x" * 100_000):  # one keep-alive connection
            writer.write(request("POST", "/direct/echo?q=1", body))
            answer = await read_answer(reader)
            assert (answer.status, answer.body) == (201, body)
        names = [name for name, _ in answer.headers]
        assert names == [b"date", b"content-type", b"x-route", b"content-length"]
        assert answer.header(b"content-length") == b"100000"
    assert app.bodies == []
    assert route.scopes[0]["query_string"] == b"q=1"


async def test_pipelined_requests_are_answered_in_order() -> None:
    async with served() as (port, _, app), connection(port) as (reader, writer):
        writer.write(
            request("POST", "/direct/slow", b"first")
            + request("POST", "/elsewhere", b"second")
            + request("POST", "/direct/echo", b"third")
        )
        answers = [await read_answer(reader) for _ in range(3)]
    assert [(a.status, a.body) for a in answers] == [
        (201, b"first"),
        (200, b"second"),
        (201, b"third"),
    ]
    assert app.bodies == [b"second"]


async def test_a_body_in_pieces_and_after_100_continue_is_read_whole() -> None:
    async with served() as (port, _, _), connection(port) as (reader, writer):
        head = request("POST", "/direct/echo", b"", [(b"content-length", b"10")])
        writer.write(head + b"hello")
        await asyncio.sleep(0.05)
        writer.write(b"world")
        answer = await read_answer(reader)
        assert (answer.status, answer.body) == (201, b"helloworld")
        expect = [(b"content-length", b"4"), (b"expect", b"100-continue")]
        writer.write(request("POST", "/direct/echo", b"", expect))
        continued = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert continued == b"HTTP/1.1 100 Continue\r\n\r\n"
        writer.write(b"body")
        answer = await read_answer(reader)
        assert (answer.status, answer.body) == (201, b"body")


async def test_a_request_given_back_reaches_the_application_with_its_body() -> None:
    async with served() as (port, route, app), connection(port) as (reader, writer):
        writer.write(request("POST", "/direct/back", b"payload"))
        answer = await read_answer(reader)
    assert (answer.status, answer.header(b"x-app"), answer.body) == (200, b"yes", b"payload")
    assert route.answered == app.bodies == [b"payload"]


async def test_a_failing_route_is_a_500_or_the_application(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, "realtime.httpprotocol")
    async with served() as (port, _, app), connection(port) as (reader, writer):
        writer.write(request("POST", "/direct/fail", b"x"))
        failed = await read_answer(reader)
        assert (failed.status, failed.body) == (500, b"Internal Server Error")
        assert failed.header(b"connection") == b"close"
    async with served() as (port, _, app), connection(port) as (reader, writer):
        writer.write(request("POST", "/take-fails", b"y"))
        assert (await read_answer(reader)).header(b"x-app") == b"yes"
        assert app.bodies == [b"y"]
    messages = [record.getMessage() for record in caplog.records]
    assert messages == ["Exception in a direct route", "A direct route failed to look at a request"]


@pytest.mark.parametrize("path", ["/direct/bad-header", "/direct/length"])
async def test_a_header_the_protocol_must_not_write_is_a_500(path: str) -> None:
    async with served() as (port, _, _), connection(port) as (reader, writer):
        writer.write(request("POST", path))
        answer = await read_answer(reader)
        rest = await asyncio.wait_for(reader.read(), 5)
    assert (answer.status, answer.header(b"x-injected"), rest) == (500, None, b"")


async def test_connection_close_is_answered_then_closed() -> None:
    async with served() as (port, _, _), connection(port) as (reader, writer):
        writer.write(request("POST", "/direct/echo", b"bye", [(b"connection", b"close")]))
        answer = await read_answer(reader)
        assert (answer.status, answer.body) == (201, b"bye")
        assert answer.header(b"connection") == b"close"
        assert await asyncio.wait_for(reader.read(), 5) == b""


async def test_a_client_that_leaves_before_its_body_gets_nothing_answered() -> None:
    async with served() as (port, route, app):
        async with connection(port) as (_, writer):
            writer.write(request("POST", "/direct/echo", b"", [(b"content-length", b"10")]))
            writer.write(b"half")
            await writer.drain()
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.1)
    assert len(route.scopes) == 1
    assert route.answered == app.bodies == []


async def test_the_route_sees_the_client_a_trusted_proxy_forwards() -> None:
    forwarded = [(b"x-forwarded-for", b"203.0.113.9"), (b"x-forwarded-proto", b"https")]
    async with served() as (port, route, _), connection(port) as (reader, writer):
        writer.write(request("POST", "/direct/echo", b"", forwarded))
        await read_answer(reader)
    assert (route.scopes[0]["client"], route.scopes[0]["scheme"]) == (("203.0.113.9", 0), "https")


def test_paths_under_a_mount_are_never_offered_to_a_route() -> None:
    route = EchoRoute()
    mounted = Application(MountRouter({"/direct": object()}, EchoApp()), [route])  # type: ignore[dict-item]
    scope = {"type": "http", "path": "/direct/echo", "headers": [], "client": ("127.0.0.1", 1)}
    assert mounted.direct(scope) is None
    assert route.scopes == []
    unmounted = Application(MountRouter({}, EchoApp()), [route])
    assert unmounted.direct(scope) == (route, "/direct/echo")


async def test_a_shutdown_lets_the_answer_in_flight_out_then_closes() -> None:
    application = Application(MountRouter({}, EchoApp()), [EchoRoute()])
    async with inprocess_uvicorn.serving(application) as (port, _):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(request("POST", "/direct/slow", b"last"))
        await asyncio.sleep(0.05)  # taken: its answer is on its way when the server stops
    answer = await read_answer(reader)
    assert (answer.status, answer.body, answer.header(b"connection")) == (201, b"last", b"close")
    assert await asyncio.wait_for(reader.read(), 5) == b""
    writer.close()


async def test_an_answer_that_waits_holds_up_none_answered_in_the_same_turn() -> None:
    async with (
        served() as (port, _, _),
        connection(port) as (slow_r, slow_w),
        connection(port) as (fast_r, fast_w),
    ):
        slow_w.write(request("POST", "/direct/slow", b"slow"))
        fast_w.write(request("POST", "/direct/echo", b"fast"))
        fast = await asyncio.wait_for(read_answer(fast_r), 0.15)  # the slow one takes 0.2 s
        assert (fast.status, fast.body) == (201, b"fast")
        slow = await read_answer(slow_r)
        assert (slow.status, slow.body) == (201, b"slow")
