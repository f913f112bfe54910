"""The REST emits' fast path: an emit that will succeed is answered without Django's request
cycle; every other request goes to Django unchanged.

`POST /emit/...` is the service's hottest HTTP call (other services notify users through it).
Through Django and DRF it costs ~0.9 ms of CPU, most of it the framework's (request objects,
middleware, content negotiation, rendering) rather than the emit's. This ASGI middleware takes
such a request only when it can tell that Django would answer 200: the route resolved by Django's
own resolver, the host allowed, the access policy of the API (`access_refusal`), the view's own
input serializer, a JSON body within MAX_PAYLOAD; then it calls the view's service and answers
with the same status, headers and body. Anything else (another method or route, a refusal, an
invalid name, a body it cannot parse, a `format` or an `Accept` it does not know, HTTPS
redirects or HSTS configured...) goes to Django with the body replayed, so every error answer
still comes from the views.
On uvicorn workers it is a direct route as well (realtime.directhttp): the same checks and
answers, without the ASGI cycle around them.
tests/emit_api/test_fastpath.py holds the paths to the same answers.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, NamedTuple
from urllib.parse import parse_qsl

import orjson
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http.request import split_domain_port, validate_host
from django.urls import Resolver404, get_resolver
from rest_framework.renderers import JSONRenderer

from realtime import metrics
from realtime.conf import realtime_settings
from realtime.directhttp import DirectAnswer, Headers
from realtime.envelope import success
from realtime.jsoncodec import MAX_DEPTH, nests_deeper

from .exceptions import envelope_exception_handler
from .permissions import access_refusal
from .views import BaseEmitView, EmitTarget

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Any  # Django's handlers type their messages as Mapping

JSON_TYPES = {b"application/json", b"application/json; charset=utf-8"}
ACCEPTED = {"*/*", "application/*", "application/json"}  # what DRF's JSONRenderer answers


class EmitFastPath:
    """ASGI middleware in front of Django (see the module docstring), and the same as a direct
    route of the uvicorn workers (realtime.directhttp)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self.renderer = JSONRenderer()
        # read once, as SecurityMiddleware reads them when Django loads its middleware
        self.security_headers = tuple(_security_headers())
        # HTTPS redirects and HSTS depend on how Django sees the scheme: leave them to it
        self.https_rules = bool(settings.SECURE_SSL_REDIRECT or settings.SECURE_HSTS_SECONDS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        ticket = self.take(scope)
        if ticket is None:
            return await self.app(scope, receive, send)
        read = await _read_body(receive, ticket.length)
        if read is None:  # the client left: nobody to answer
            return None
        body, more = read
        answer = None if more else await self.answer(ticket, body)
        if answer is None:  # Django answers (413, 400...) from the same bytes
            return await self.app(scope, _replay(body, more, receive), send)
        status, headers, body = answer
        headers = (*headers, (b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    def take(self, scope: Scope) -> Ticket | None:
        """The emit's ticket when Django would accept the request up to its body."""
        emit = scope["type"] == "http" and scope["method"] == "POST"
        emit = emit and scope["path"].startswith("/emit/") and not self.https_rules
        return _checked_request(scope) if emit else None

    async def answer(self, ticket: Ticket, body: bytes) -> DirectAnswer | None:
        """The emit's answer, or None where Django answers (a body it would parse differently)."""
        payload = _payload(body)
        if payload is _UNPARSED:
            return None
        view = ticket.view
        try:
            delivered = await view.emit(ticket.target, payload)
        except Exception as exc:  # what the view would answer (the handler logs the unexpected)
            response = envelope_exception_handler(exc, {"view": view})
            status, body = response.status_code, self.renderer.render(response.data)
        else:
            status, body = 200, _success_body(int(delivered))
        metrics.count(metrics.API_REQUESTS, ticket.route, str(status))
        metrics.observe(
            metrics.API_LATENCY, ticket.route, value=time.perf_counter() - ticket.started
        )
        return DirectAnswer(status, _answer_headers(self.security_headers), body)


class Ticket(NamedTuple):
    """An emit Django would accept up to its body."""

    route: str
    view: type[BaseEmitView]
    target: EmitTarget
    length: int  # the body's declared length
    started: float  # perf_counter() when its head was read


_UNPARSED = object()


def _checked_request(scope: Scope) -> Ticket | None:
    """The ticket of an emit Django would accept up to its body; None for anything else."""
    if scope.get("root_path"):
        return None
    headers = _headers(scope)
    if headers is None or not _host_allowed(headers.get(b"host")):
        return None
    declared = headers.get(b"content-length", b"")
    if not declared.isdigit() or int(declared) > _body_limit():  # ASCII digits only
        return None
    length = int(declared)
    # DRF's parser matches the media type case-sensitively, and decodes by the charset
    if length and headers.get(b"content-type", b"") not in JSON_TYPES:
        return None
    if not _accepts_json(headers.get(b"accept")):
        return None
    client = scope.get("client")
    if access_refusal(_text_reader(headers), client[0] if client else "") is not None:
        return None
    target = _validated_target(scope["path"], scope.get("query_string", b""))
    if target is None:
        return None
    route, view, valid = target
    return Ticket(route, view, valid, length, time.perf_counter())


Target = tuple[str, type[BaseEmitView], EmitTarget]
MAX_TARGETS = 4096  # targets (and hosts) remembered, the least recently used forgotten first


# REST emits go to the same targets again and again, and resolving the path and validating the
# input were a third of the fast path's CPU. The answer depends on the path, the query, the
# code and the settings only: remembered, and forgotten when a setting changes.
@functools.lru_cache(maxsize=MAX_TARGETS)
def _validated_target(path: str, query_string: bytes) -> Target | None:
    """(route, view, valid input) of the emit at `path?query_string`, or None where Django
    answers."""
    try:
        match = get_resolver().resolve(path)
    except Resolver404:
        return None
    view = getattr(match.func, "view_class", None)
    if not (isinstance(view, type) and issubclass(view, BaseEmitView)):
        return None
    query = _query(query_string)
    if query is None or "format" in query:  # DRF's format override picks a renderer
        return None
    serializer = view.input_serializer_class(data={**query, **match.kwargs})
    if not serializer.is_valid():
        return None
    return match.route, view, EmitTarget.of(serializer)


@functools.lru_cache(maxsize=8)  # one per EmitFastPath
def _answer_headers(security_headers: Headers) -> Headers:
    """An answer's headers: X-Frame-Options read as XFrameOptionsMiddleware reads it (on each
    answer: here again after any setting changes), SecurityMiddleware's from its start."""
    frame_options = getattr(settings, "X_FRAME_OPTIONS", "DENY").upper().encode()
    return (
        (b"content-type", b"application/json"),
        (b"allow", b"POST, OPTIONS"),
        (b"x-frame-options", frame_options),
        *security_headers,
    )


@functools.lru_cache(maxsize=256)
def _success_body(delivered: int) -> bytes:
    """A 200's body. Ints and fixed words: orjson writes the bytes DRF's JSONRenderer would."""
    return orjson.dumps(success({"delivered": delivered}))


@receiver(setting_changed)
def _forget_targets(**kwargs: Any) -> None:
    _answer_headers.cache_clear()
    _validated_target.cache_clear()
    _host_allowed.cache_clear()
    _body_limit.cache_clear()


@functools.lru_cache(maxsize=1)  # two settings reads were a fifth of a request's checks
def _body_limit() -> int:
    """MAX_PAYLOAD, or Django's own limit on a body read into memory when that is lower."""
    limit = int(realtime_settings.MAX_PAYLOAD)
    django_limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    return limit if django_limit is None else min(limit, int(django_limit))


def _headers(scope: Scope) -> dict[bytes, bytes] | None:
    """The request headers by lower-case name; None when a name repeats (Django joins those)."""
    headers = {name.lower(): value for name, value in scope["headers"]}
    return headers if len(headers) == len(scope["headers"]) else None


def _text_reader(headers: dict[bytes, bytes]) -> Callable[[str], str | None]:
    """`headers.get` by a lower-case name as text (as Django decodes a header)."""

    def header(name: str) -> str | None:
        value = headers.get(name.encode("latin-1"))
        return None if value is None else value.decode("latin-1")

    return header


# by host, like the targets; USE_X_FORWARDED_HOST and ALLOWED_HOSTS are settings: a change
# forgets what was remembered
@functools.lru_cache(maxsize=MAX_TARGETS)
def _host_allowed(host: bytes | None) -> bool:
    """Django's `request.get_host()` check (CommonMiddleware answers 400 otherwise)."""
    if host is None or settings.USE_X_FORWARDED_HOST:
        return False
    allowed = settings.ALLOWED_HOSTS
    if settings.DEBUG and not allowed:
        allowed = [".localhost", "127.0.0.1", "[::1]"]
    domain, _port = split_domain_port(host.decode("latin-1"))
    return bool(domain) and validate_host(domain, allowed)


def _accepts_json(accept: bytes | None) -> bool:
    """Whether DRF would answer plain JSON (with parameters, e.g. `indent`, let it decide)."""
    if accept is None:
        return True
    if b";" in accept:
        return False
    return any(part.strip() in ACCEPTED for part in accept.decode("latin-1").split(","))


def _query(query_string: bytes) -> dict[str, str] | None:
    """`request.query_params.dict()`: the last value of each name; None where Django would
    parse differently or refuse."""
    try:
        pairs = parse_qsl(
            query_string.decode(),
            keep_blank_values=True,
            max_num_fields=settings.DATA_UPLOAD_MAX_NUMBER_FIELDS,
        )
    except ValueError:  # UnicodeDecodeError included
        return None
    return dict(pairs)


def _security_headers() -> list[tuple[bytes, bytes]]:
    """The headers SecurityMiddleware adds to an API answer (HSTS aside)."""
    headers = []
    if settings.SECURE_CONTENT_TYPE_NOSNIFF:
        headers.append((b"x-content-type-options", b"nosniff"))
    if settings.SECURE_REFERRER_POLICY:
        policy = settings.SECURE_REFERRER_POLICY
        values = [v.strip() for v in policy.split(",")] if isinstance(policy, str) else policy
        headers.append((b"referrer-policy", ",".join(values).encode()))
    opener_policy = settings.SECURE_CROSS_ORIGIN_OPENER_POLICY
    if opener_policy:
        headers.append((b"cross-origin-opener-policy", opener_policy.encode()))
    return headers


async def _read_body(receive: Receive, length: int) -> tuple[bytes, bool] | None:
    """Up to `length` bytes of the body: (what was read, whether more was announced); None
    when the client disconnected."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), False
        if size > length:
            return b"".join(chunks), True


# orjson reads an integer beyond 64 bits as a float; Python's json keeps it exact
_LONG_DIGITS = re.compile(rb"[0-9]{19}")


def _payload(body: bytes) -> Any:
    """The emit's payload as the view reads it (`{}` for an empty body); _UNPARSED where
    orjson refuses what Python's json might accept, where it would read a number otherwise
    (19 digits or more: in a string too, which is rare), or for JSON nested too deep (Django
    then decides)."""
    if not body.strip():
        return {}
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return _UNPARSED
    if _LONG_DIGITS.search(body) or nests_deeper(payload, MAX_DEPTH, body):
        return _UNPARSED
    return payload


def _replay(body: bytes, more: bool, receive: Receive) -> Receive:
    """A `receive` that gives Django the body read so far, then the rest of the request."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": more}

    return replay
