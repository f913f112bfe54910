"""The REST emits' fast path answers exactly as Django and DRF do, and takes only what succeeds.

Each request goes to the real Django application twice, once as it is and once behind
EmitFastPath: status, headers and body must be the same, and the fast path must have served
(not passed on) exactly the requests that succeed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

import pytest
from django.test import override_settings

from config.asgi import django_asgi_app
from config.handler import ASGIHandler
from emit_api import fastpath
from emit_api.fastpath import EmitFastPath
from realtime import tasks
from realtime.conf import realtime_settings
from realtime.jsoncodec import MAX_DEPTH
from tests.support.asgi_http import LOOPBACK, http_request

pytestmark = pytest.mark.django_db(transaction=True)

JSON = [(b"content-type", b"application/json")]


class Counting:
    """A Django application, counting the requests it was given."""

    def __init__(self, django: Any) -> None:
        self.django = django
        self.calls = 0

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        self.calls += 1
        await self.django(scope, receive, send)


async def answer(
    app: Any,
    path: str,
    *,
    method: str = "POST",
    query: bytes = b"",
    headers: Iterable[tuple[bytes, bytes]] = JSON,
    body: bytes | list[bytes] = b"",
    client: tuple[str, int] = LOOPBACK,
    length: bool = True,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """(status, sorted headers, body) of one request through `app`."""
    chunks = body if isinstance(body, list) else [body]
    all_headers = [(b"host", b"127.0.0.1:4000"), *headers]
    if length:
        all_headers.append((b"content-length", str(len(b"".join(chunks))).encode()))
    request = http_request(
        app, method, path, headers=all_headers, chunks=chunks, query=query, client=client,
        server=("127.0.0.1", 4000),
    )  # fmt: skip
    got = await asyncio.wait_for(request, 10)
    await asyncio.gather(*list(tasks._running))  # e.g. the offline push of a user emit
    return got.status, got.headers, got.body


async def both(path: str, django: Any = django_asgi_app, **request: Any) -> tuple[tuple, bool]:
    """The answer (checked to be the same both ways), and whether the fast path served it."""
    counting = Counting(django)
    through_fast = await answer(EmitFastPath(counting), path, **request)
    served_fast = counting.calls == 0
    through_django = await answer(django, path, **request)
    assert through_fast == through_django
    return through_fast, served_fast


SUCCEEDING = [
    ("/emit/u1/hello", {"body": b'{"title": "t"}'}),
    ("/emit/u1/hello", {"body": b"", "headers": []}),  # no body, no content type: {}
    ("/emit/u1/hello", {"body": b"[1, 2.5, null]", "query": b"namespace=conversation"}),
    ("/emit/u1/hello", {"body": b'"text"', "query": b"namespace=x&namespace=live"}),
    ("/emit/u1/hello", {"body": [b'{"a": ', b"[1]}"]}),  # in two chunks
    ("/emit/u1/h%C3%A9llo", {"body": b"{}"}),
    ("/emit/account/a1/hello", {"body": b'{"x": "\\u00e9"}'}),
    ("/emit/room/lobby/hello", {"body": b"{}", "headers": [*JSON, (b"accept", b"*/*")]}),
    ("/emit/u1/hello\n", {"body": b"{}"}),  # the event's blanks trimmed, as DRF trims them
    ("/emit/u1/hello", {"body": b"[" * MAX_DEPTH + b"]" * MAX_DEPTH}),  # as deep as allowed
]

DECLINED = [  # errors, or answers the fast path leaves to Django (the second and later ones)
    ("/emit/account", {"body": b"{}"}),
    ("/emit/u1/connect", {"body": b"{}"}),  # a reserved event name
    ("/emit/u1/hello", {"body": b"{}", "query": b"namespace=nope"}),
    ("/emit/u1/hello", {"body": b"{not json"}),
    ("/emit/u1/hello", {"body": b'{"n": NaN}'}),
    ("/emit/u1/hello", {"body": b"{}", "query": b"namespace=\xff"}),
    ("/emit/u1/hello", {"body": b'"\\ud800"'}),  # Python's json takes a lone surrogate
    ("/emit/u1/hello", {"body": b"{}", "headers": [(b"content-type", b"text/plain")]}),
    ("/emit/u1/hello", {"body": b"{}", "headers": [(b"content-type", b"Application/JSON")]}),
    ("/emit/u1/hello", {"body": b"{}", "headers": [*JSON, (b"accept", b"text/html")]}),
    (
        "/emit/u1/hello",
        {"body": b"[1]", "headers": [*JSON, (b"accept", b"application/json; indent=2")]},
    ),
    ("/emit/u1/hello", {"body": b"{}", "query": b"format=json"}),
    ("/emit/u1/hello", {"body": b"{}", "length": False}),  # no Content-Length
    ("/emit/u1/hello", {"body": b"{}", "client": ("10.1.2.3", 5000)}),  # not loopback
    ("/emit/u1/hello", {"body": b"{}", "method": "GET"}),
    ("/emit/u1/hello", {"body": b"{}", "headers": [*JSON, (b"host", b"evil.example")]}),
    ("/emit/u1/hello/", {"body": b"{}"}),
    ("/emit/" + "u" * 201 + "/hello", {"body": b"{}"}),
    ("/emit/u1/hello", {"body": b"[" * (MAX_DEPTH + 1) + b"]" * (MAX_DEPTH + 1)}),  # too deep
    ("/emit/u1/hello", {"body": b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}"}),  # past orjson's
    ("/emit/u1/hello", {"body": b"[18446744073709551616]"}),  # orjson: a float, Python: an int
]


@pytest.mark.parametrize(("path", "request_"), SUCCEEDING)
async def test_what_succeeds_is_served_in_front_of_django(path: str, request_: dict) -> None:
    (status, _, body), served_fast = await both(path, **request_)
    assert status == 200, body
    assert json.loads(body) == {"success": True, "message": "SUCCESS", "data": {"delivered": 0}}
    assert served_fast


@pytest.mark.parametrize(("path", "request_"), DECLINED)
async def test_everything_else_is_answered_by_django(path: str, request_: dict) -> None:
    _, served_fast = await both(path, **request_)
    assert not served_fast


async def test_a_body_over_max_payload_goes_to_django() -> None:
    big = b'"' + b"x" * int(realtime_settings.MAX_PAYLOAD) + b'"'
    (status, _, _), served_fast = await both("/emit/u1/hello", body=big)
    assert (status, served_fast) == (413, False)


async def test_a_body_over_djangos_memory_limit_goes_to_django() -> None:
    with override_settings(DATA_UPLOAD_MAX_MEMORY_SIZE=100):
        (status, _, _), served_fast = await both("/emit/u1/hello", body=b'"' + b"x" * 200 + b'"')
    assert (status, served_fast) == (413, False)


async def test_the_internal_key_is_checked_as_the_views_check_it() -> None:
    key = [(b"x-internal-key", b"k-2")]
    with override_settings(INTERNAL_API_KEYS=["k-1", "k-2"]):
        (status, _, _), served_fast = await both("/emit/u1/hi", headers=[*JSON, *key], body=b"{}")
        assert (status, served_fast) == (200, True)
        bearer = [(b"authorization", b"Bearer k-1")]
        (status, _, _), served_fast = await both("/emit/u1/hi", headers=bearer, body=b"")
        assert (status, served_fast) == (200, True)
        (status, _, _), served_fast = await both("/emit/u1/hi", headers=JSON, body=b"{}")
        assert (status, served_fast) == (401, False)


@pytest.mark.parametrize(
    ("security", "served"),
    [
        ({"SECURE_REFERRER_POLICY": "origin, no-referrer", "X_FRAME_OPTIONS": "sameorigin"}, True),
        ({"SECURE_REFERRER_POLICY": ["origin"], "SECURE_CROSS_ORIGIN_OPENER_POLICY": None}, True),
        ({"SECURE_CONTENT_TYPE_NOSNIFF": False}, True),
        ({"SECURE_SSL_REDIRECT": True}, False),
        ({"SECURE_HSTS_SECONDS": 3600}, False),
    ],
)
async def test_the_security_headers_follow_the_settings(security: dict, served: bool) -> None:
    with override_settings(**security):
        django = ASGIHandler()  # its middleware reads these settings when it is loaded
        _, served_fast = await both("/emit/room/r/hi", django=django, body=b"{}")
    assert served_fast is served


async def test_a_second_request_to_a_target_gets_the_same_answer() -> None:
    """The second time, the target's route and input come from the fast path's cache."""
    for path, request_ in [*SUCCEEDING, *DECLINED]:
        first = await both(path, **request_)
        assert await both(path, **request_) == first, path


def test_the_caches_are_bounded_and_forget_on_a_setting_change() -> None:
    targets, hosts = fastpath._validated_target, fastpath._host_allowed
    targets.cache_clear()
    for n in range(fastpath.MAX_TARGETS + 5):
        targets(f"/emit/user-{n}/hello", b"")
    assert 0 < targets.cache_info().currsize <= fastpath.MAX_TARGETS
    assert targets("/emit/u1/hello", b"namespace=nope") is None  # invalid: cached
    assert fastpath._host_allowed(b"127.0.0.1:4000")
    with override_settings(ROOT_URLCONF="config.urls"):
        assert targets.cache_info().currsize == 0 and hosts.cache_info().currsize == 0
    with override_settings(ALLOWED_HOSTS=["example.org"]):
        assert not fastpath._host_allowed(b"127.0.0.1:4000")  # the new setting, not the cache
    with override_settings(USE_X_FORWARDED_HOST=True):
        assert not fastpath._host_allowed(b"127.0.0.1:4000")
