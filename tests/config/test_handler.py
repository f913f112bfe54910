"""config.handler and config.middleware in process: Django's handler and middleware, but a
request served on the loop (a REST emit) starts no thread, and one that runs sync code keeps
Django's ways (its request_finished receivers run in its thread)."""

from __future__ import annotations

import inspect
import re
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.core import signals
from django.core.handlers import asgi as django_asgi
from django.utils.module_loading import import_string

from config import handler, middleware
from emit_api import views
from tests.support.asgi_http import http_request

EMIT = b'{"success":true,"message":"SUCCESS","data":{"delivered":3}}'


async def call(app: Any, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
    """One HTTP request through an ASGI app from 127.0.0.1: (status, body)."""
    headers = [(b"host", b"testserver"), (b"content-type", b"application/json")]
    answer = await http_request(app, method, path, headers=headers, chunks=[body])
    return answer.status, answer.body


@pytest.fixture(scope="module")
def app() -> handler.ASGIHandler:
    return handler.ASGIHandler()


@pytest.fixture
def emit_service(monkeypatch: pytest.MonkeyPatch) -> None:
    """EmitToRoomView's service answers 3 at once (no layer, no database)."""

    async def service(**kwargs: Any) -> int:
        return 3

    monkeypatch.setattr(views.EmitToRoomView, "service", staticmethod(service))


@pytest.fixture
def threads_started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the threads started from now on."""
    started: list[str] = []
    start = threading.Thread.start

    def counting_start(thread: threading.Thread) -> None:
        started.append(thread.name)
        start(thread)

    monkeypatch.setattr(threading.Thread, "start", counting_start)
    return started


@pytest.fixture
def finished_in(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """The threads request_finished's receivers run in (a receiver counted as Django's)."""
    threads: list[int] = []

    def receiver(**kwargs: Any) -> None:
        threads.append(threading.get_ident())

    monkeypatch.setattr(handler, "BOOKKEEPING", handler.BOOKKEEPING | {receiver})
    signals.request_finished.connect(receiver)
    yield threads
    signals.request_finished.disconnect(receiver)


async def test_an_emit_is_served_without_starting_a_thread(
    app: handler.ASGIHandler, emit_service: None, threads_started: list[str]
) -> None:
    """Django would run the signals and every middleware hook in a new thread of the request
    (and the view too, were it sync)."""
    for _ in range(3):
        assert await call(app, "POST", "/emit/room/r1/ev", b'{"a":1}') == (200, EMIT)
    assert threads_started == []


async def test_request_finished_runs_in_the_thread_of_a_request_that_had_one(
    app: handler.ASGIHandler,
    emit_service: None,
    finished_in: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A sync view's connections are closed in its thread, as Django closes them; a request
    that ran no sync code has its receivers run on the loop."""
    view_in: list[int] = []

    def render() -> tuple[bytes, str]:
        view_in.append(threading.get_ident())
        return b"", "text/plain"

    monkeypatch.setattr(views.metrics, "render", render)
    assert (await call(app, "GET", "/metrics"))[0] == 200
    assert view_in and view_in[0] != threading.get_ident()
    assert finished_in == view_in
    finished_in.clear()
    assert await call(app, "POST", "/emit/room/r1/ev", b"{}") == (200, EMIT)
    assert finished_in == [threading.get_ident()]


def test_every_django_middleware_in_the_settings_has_a_loop_variant() -> None:
    """settings.MIDDLEWARE keeps Django's names; the handler serves each with its variant,
    the same class with no thread hop (a new Django middleware needs one here)."""
    for name in settings.MIDDLEWARE:
        served = import_string(middleware.ON_THE_LOOP.get(name, name))
        assert served.async_capable, name
        if name.startswith("django."):
            assert issubclass(served, (import_string(name), middleware.OnTheLoop)), name
            assert issubclass(served, middleware.OnTheLoop), f"{name} has no loop variant"


def test_handle_is_djangos_but_for_the_lines_marked_here() -> None:
    """The copy of ASGIHandler.handle follows Django's: update it with Django."""
    ours = body(handler.ASGIHandler.handle)
    ours = re.sub(r"  # (type: ignore\[[a-z-]+\] ?)?(# )?here$", "", ours, flags=re.M)
    ours = re.sub(r"  # type: ignore\[[a-z-]+\]$", "", ours, flags=re.M)
    for mine, djangos in [
        (
            "await send_request_started(self.__class__, scope)",
            "await signals.request_started.asend(sender=self.__class__, scope=scope)",
        ),
        (
            "await close_response(error_response, self.__class__)",
            "await sync_to_async(error_response.close)()",
        ),
        (
            "await close_response(response, self.__class__)",
            "await sync_to_async(response.close)()",
        ),
    ]:
        assert mine in ours
        ours = ours.replace(mine, djangos)
    assert ours == body(django_asgi.ASGIHandler.handle)


def body(function: Any) -> str:
    """A method's source without its signature and docstring."""
    source = inspect.getsource(function)
    return re.sub(r'^.*?:\n +""".*?"""\n', "", source, count=1, flags=re.S)
