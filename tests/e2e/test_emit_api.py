"""The REST API against real servers: emits across two instances on redis, every bad request,
the access policy both ways, /status, the OpenAPI schema and its docs page."""

from __future__ import annotations

import asyncio
import fcntl
import ipaddress
import json
import re
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from drf_spectacular.validation import validate_schema

from emit_api.base import TOO_DEEP
from realtime.emit import COUNT_TIMEOUT_S
from realtime.jsoncodec import MAX_DEPTH
from tests.support.servers import RedisServer, ServerProcess
from tests.support.shared import (
    LIVE,
    SHARED,
    delivered,
    new_uid,
    open_tab,
    rest,
    rest_emit,
    wait_instances,
    wait_live_sockets,
)

RESERVED = [
    "connect",
    "disconnect",
    "connect_error",
    "disconnecting",
    "newListener",
    "removeListener",
]
MAX_PAYLOAD = 1_000_000  # SOCKETIO_MAX_PAYLOAD's default
JSON = {"Content-Type": "application/json"}
KEYS = ("k1-first-key", "k2-second-key")


@pytest.fixture(scope="module")
def emit_cluster(
    redis_server: RedisServer, server_database: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes of the service on one redis."""
    env = {"REDIS_URL": redis_server.url}
    first = ServerProcess(env=env, database=server_database).start()
    second = ServerProcess(env=env, database=server_database)
    try:
        second.start()
    except Exception:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


@pytest.fixture(scope="module")
def keyed_server(server_database: str) -> Iterator[ServerProcess]:
    """A process that takes either of two internal API keys (a rotation window)."""
    process = ServerProcess(env={"INTERNAL_API_KEY": ",".join(KEYS)}, database=server_database)
    yield process.start()
    process.stop()


def failure(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The error envelope of a refused request; returns it for further checks."""
    assert response.status_code == status, (response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["success"] is False and body["errno"] == status and body["message"] == code, body
    return body


# ----- emits across two instances ------------------------------------------------------


async def test_one_rest_call_to_either_instance_reaches_sockets_on_both(
    emit_cluster: tuple[ServerProcess, ServerProcess], server_database: str
) -> None:
    first, second = emit_cluster
    uid, colleague, account = new_uid(), new_uid(), new_uid("acc")
    tabs = [
        await open_tab(first, uid, account_id=account),
        await open_tab(first, uid, account_id=account),
        await open_tab(second, uid, account_id=account),
    ]
    others = [
        await open_tab(second, colleague, account_id=account),
        await open_tab(first, new_uid(), account_id=new_uid("acc")),
    ]
    try:
        rows = await wait_live_sockets(server_database, uid, 3)
        instances = {row["instance_id"] for row in rows}
        assert len(instances) == 2
        await wait_instances(server_database, instances)  # both heartbeat: both are counted
        for n, entry in enumerate(emit_cluster):
            payload = {"n": n, "via": entry.port}
            assert await rest_emit(entry, f"/emit/{uid}/news", payload) == delivered(3)
            for tab in tabs:
                assert await tab.next(SHARED, "news") == [payload]
            payload = {"room": True, "n": n}
            assert await rest_emit(entry, f"/emit/room/user:{uid}/news", payload) == delivered(3)
            for tab in tabs:
                assert await tab.next(SHARED, "news") == [payload]
            payload = {"account": account, "n": n}
            answer = await rest_emit(entry, f"/emit/account/{account}/news", payload)
            assert answer == delivered(4)
            for tab in [*tabs, others[0]]:
                assert await tab.next(SHARED, "news") == [payload]
        # no socket of the user on /v1/conversation/live, on either instance
        assert await rest_emit(first, f"/emit/{uid}/news?namespace=live", {}) == delivered(0)
        assert [tab.received(LIVE, "news") for tab in tabs] == [[], [], []]
        assert [tab.received(SHARED, "news") for tab in [*tabs, *others]] == [[]] * 5
    finally:
        for tab in [*tabs, *others]:
            await tab.close()


async def test_a_count_waits_for_no_process_that_died_without_a_word(
    emit_cluster: tuple[ServerProcess, ServerProcess], server_factory, redis_server: RedisServer
) -> None:
    """A counted emit waits for the answers of the processes its broadcast reached (Redis
    says how many): a process killed a moment ago, its heartbeat still fresh, is not one of
    them, and holds up nothing."""
    first, _ = emit_cluster
    doomed = server_factory(REDIS_URL=redis_server.url)
    uid = new_uid()
    kept, lost = await open_tab(first, uid), await open_tab(doomed, uid)
    try:
        assert await rest_emit(first, f"/emit/{uid}/news", {"n": 1}) == delivered(2)
        assert await lost.next(SHARED, "news") == [{"n": 1}]
        doomed.kill()
        await asyncio.sleep(0.2)  # Redis has seen its connections close
        started = time.monotonic()
        assert await rest_emit(first, f"/emit/{uid}/news", {"n": 2}) == delivered(1)
        assert time.monotonic() - started < COUNT_TIMEOUT_S / 2
        assert [await kept.next(SHARED, "news") for _ in range(2)] == [[{"n": 1}], [{"n": 2}]]
    finally:
        await kept.close()
        await lost.drop()


# ----- bodies ---------------------------------------------------------------------------


BODIES = {
    "empty": b"",
    "blank": b" \n",
    "object-empty": b"{}",
    "object": b'{"title": "T", "deep": {"list": [1, 2.5, null, true]}}',
    "array": b'[1, "two", {"three": 3}]',
    "int": b"42",
    "float": b"-0.5",
    "string": b'"just a string"',
    "null": b"null",
    "bool": b"true",
    "utf8": '{"text": "h\u00e9llo \u2603 \U0001f600"}'.encode(),
    # what orjson refuses goes through Python's parser and the stdlib's encoder
    "lone-surrogate": b'{"text": "\\ud800", "other": "\\u00e9"}',
    "big-int": b"[123456789012345678901234567890, -1]",
}


@pytest.mark.parametrize("body", BODIES.values(), ids=BODIES.keys())
async def test_any_json_body_is_the_payload(server: ServerProcess, body: bytes) -> None:
    expected = json.loads(body) if body.strip() else {}  # no body: an empty object
    uid = new_uid()
    tab = await open_tab(server, uid)
    try:
        response = await rest(server, "POST", f"/emit/{uid}/data", content=body, headers=JSON)
        assert response.status_code == 200, response.text
        assert response.json() == delivered(1)
        assert await tab.next(SHARED, "data") == [expected]
    finally:
        await tab.close()


async def test_a_chunked_body_is_read_like_any_other(server: ServerProcess) -> None:
    uid = new_uid()
    tab = await open_tab(server, uid)

    async def chunks() -> Any:
        yield b'{"framed": '
        yield b'"chunked"}'

    try:
        response = await rest(server, "POST", f"/emit/{uid}/data", content=chunks(), headers=JSON)
        assert "content-length" not in response.request.headers
        assert response.request.headers["transfer-encoding"] == "chunked"
        assert response.json() == delivered(1)
        assert await tab.next(SHARED, "data") == [{"framed": "chunked"}]
    finally:
        await tab.close()


# ----- every bad request ----------------------------------------------------------------


async def test_a_body_that_is_not_json(server: ServerProcess) -> None:
    for body in (b"{bad", b"{'single': 1}", b"[1,", b"\xff\xfe", b"NaN-ish"):
        response = await rest(server, "POST", "/emit/u-x/data", content=body, headers=JSON)
        body_errors = failure(response, 400, "VALIDATION_ERROR")["errors"]
        assert list(body_errors) == ["body"], body_errors


def nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


async def test_json_nested_deeper_than_a_packet_may_be_is_refused(server: ServerProcess) -> None:
    """Up to MAX_DEPTH levels the payload is delivered; deeper is a 400, where Python's own
    parser (past ~1,000 levels) and the emit's encoding (past a few hundred) would fail."""
    uid = new_uid()
    tab = await open_tab(server, uid)
    try:
        deepest = nested(MAX_DEPTH)
        response = await rest(server, "POST", f"/emit/{uid}/deep", content=deepest, headers=JSON)
        assert response.json() == delivered(1)
        assert json.dumps((await tab.next(SHARED, "deep"))[0]).count("[") == MAX_DEPTH
        for depth in (MAX_DEPTH + 1, 500, 1_000, 300_000):
            for path in (f"/emit/{uid}/deep", "/lead-finder/job-1/scraper_progress"):
                content = nested(depth) if "emit" in path else b'{"a":' + nested(depth) + b"}"
                response = await rest(server, "POST", path, content=content, headers=JSON)
                body = failure(response, 400, "VALIDATION_ERROR")
                assert body["errors"] == {"body": [TOO_DEEP]}, (path, depth)
        assert tab.received(SHARED, "deep") == []
        assert (await rest(server, "GET", "/status")).status_code == 200
    finally:
        await tab.close()


async def test_a_body_over_the_payload_limit(server: ServerProcess) -> None:
    uid = new_uid()
    tab = await open_tab(server, uid)
    fits = b'"' + b"a" * (MAX_PAYLOAD - 2) + b'"'
    too_big = b'"' + b"a" * (MAX_PAYLOAD - 1) + b'"'

    async def chunked(data: bytes) -> Any:
        for start in range(0, len(data), 65_536):
            yield data[start : start + 65_536]

    try:
        response = await rest(server, "POST", f"/emit/{uid}/big", content=fits, headers=JSON)
        assert response.json() == delivered(1)
        assert len((await tab.next(SHARED, "big"))[0]) == MAX_PAYLOAD - 2
        for content in (too_big, chunked(too_big), b"[" + b" " * (4 * MAX_PAYLOAD) + b"]"):
            response = await rest(server, "POST", f"/emit/{uid}/big", content=content, headers=JSON)
            assert failure(response, 413, "PAYLOAD_TOO_LARGE") == {
                "success": False,
                "errno": 413,
                "message": "PAYLOAD_TOO_LARGE",
            }
        assert tab.received(SHARED, "big") == []
    finally:
        await tab.close()


@pytest.mark.parametrize("event", RESERVED)
async def test_reserved_event_names(server: ServerProcess, event: str) -> None:
    for path in (f"/emit/u-x/{event}", f"/emit/account/a-x/{event}", f"/emit/room/r-x/{event}"):
        response = await rest(server, "POST", path, json={})
        errors = failure(response, 400, "VALIDATION_ERROR")["errors"]
        assert list(errors) == ["event"], errors


async def test_bad_targets_and_namespaces(server: ServerProcess) -> None:
    for path in (
        "/emit/u-x/data?namespace=nope",
        "/emit/u-x/data?namespace=/v1/shared",
        "/emit/account/a-x/data?namespace=",
        "/emit/room/r-x/data?namespace=lead-finder",
    ):
        errors = failure(await rest(server, "POST", path, json={}), 400, "VALIDATION_ERROR")
        assert list(errors["errors"]) == ["namespace"], (path, errors)
    for path, field in [
        (f"/emit/u-x/{'e' * 129}", "event"),
        (f"/emit/{'u' * 201}/data", "user_id"),
        (f"/emit/account/{'a' * 201}/data", "account_id"),
        (f"/online/{'u' * 201}", "user_id"),
    ]:
        method = "GET" if path.startswith("/online") else "POST"
        errors = failure(await rest(server, method, path, json={}), 400, "VALIDATION_ERROR")
        assert list(errors["errors"]) == [field], (path, errors)


async def test_wrong_methods_content_types_and_routes(server: ServerProcess) -> None:
    for method, path in [
        ("GET", "/emit/u-x/data"),
        ("PUT", "/emit/u-x/data"),
        ("DELETE", "/emit/account/a-x/data"),
        ("PATCH", "/emit/room/r-x/data"),
        ("POST", "/online/u-x"),
        ("POST", "/status"),
    ]:
        body = failure(await rest(server, method, path), 405, "METHOD_NOT_ALLOWED")
        assert method in body["detail"]
    for content_type, content in [
        ("text/plain", b"hello"),
        ("application/x-www-form-urlencoded", b"a=1"),
        ("application/xml", b"<a/>"),
    ]:
        headers = {"Content-Type": content_type}
        response = await rest(server, "POST", "/emit/u-x/data", content=content, headers=headers)
        failure(response, 415, "UNSUPPORTED_MEDIA_TYPE")
    for method, path in [
        ("GET", "/nope"),
        ("POST", "/emit/u-x"),
        ("POST", "/emit/u-x/data/extra"),
        ("GET", "/online"),
        ("POST", "/emits/u-x/data"),
    ]:
        failure(await rest(server, method, path), 404, "NOT_FOUND")


# ----- who may call ---------------------------------------------------------------------


CALLS = [
    ("POST", "/emit/u-x/data"),
    ("POST", "/emit/account/a-x/data"),
    ("POST", "/emit/room/r-x/data"),
    ("GET", "/online/u-x"),
]


async def test_with_keys_set_only_their_holders_may_call(keyed_server: ServerProcess) -> None:
    for method, path in CALLS:
        refusals = [{}, {"x-internal-key": "wrong"}, {"x-internal-key": ""}]
        refusals += [{"x-internal-key": ",".join(KEYS)}, {"x-internal-key": KEYS[0].upper()}]
        refusals += [{"x-internal-key": KEYS[0][:-1]}, {"authorization": "Bearer wrong"}]
        for headers in refusals:
            response = await rest(keyed_server, method, path, json={}, headers=headers)
            failure(response, 401, "NOT_AUTHENTICATED")
        for key in KEYS:
            response = await rest(
                keyed_server, method, path, json={}, headers={"x-internal-key": key}
            )
            assert response.status_code == 200, response.text
    # open to everyone: health, schema, docs
    for path in ("/status", "/api/schema/", "/api/docs/"):
        assert (await rest(keyed_server, "GET", path)).status_code == 200, path


async def test_without_a_key_loopback_clients_may_call(server: ServerProcess) -> None:
    for method, path in CALLS:
        for extra in ({}, {"x-internal-key": "anything"}):
            response = await rest(server, method, path, json={}, headers=extra)
            assert response.status_code == 200, response.text
        # a loopback peer is a trusted proxy (TRUSTED_PROXIES): what it relays for a remote
        # client is a remote call
        relayed = {"X-Forwarded-For": "10.0.0.5"}
        response = await rest(server, method, path, json={}, headers=relayed)
        assert response.status_code == 401, response.text


def non_loopback_address() -> str | None:
    """An IPv4 address of this machine that is not loopback (Linux), if it has one."""
    for _, name in socket.if_nameindex():
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                request = struct.pack("256s", name[:15].encode())
                answer = fcntl.ioctl(probe.fileno(), 0x8915, request)  # SIOCGIFADDR
            except OSError:
                continue
        address = socket.inet_ntoa(answer[20:24])
        if not ipaddress.ip_address(address).is_loopback:
            return address
    return None


async def test_without_a_key_other_clients_are_refused(server: ServerProcess) -> None:
    address = non_loopback_address()
    if address is None:  # no other interface: the permission itself, with a remote address
        from rest_framework.exceptions import NotAuthenticated
        from rest_framework.test import APIRequestFactory

        from emit_api.permissions import InternalAccess

        request = APIRequestFactory().post("/emit/u-x/data", REMOTE_ADDR="10.0.0.5")
        with pytest.raises(NotAuthenticated):
            InternalAccess().has_permission(request, None)
        return
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=server.url, transport=transport) as http:
        for method, path in CALLS:
            for headers in ({}, {"X-Forwarded-For": "127.0.0.1", "x-internal-key": "x"}):
                response = await http.request(method, path, json={}, headers=headers)
                body = failure(response, 401, "NOT_AUTHENTICATED")
                assert "loopback" in body["detail"]
        assert (await http.get("/status")).status_code == 200


# ----- status, schema, docs -------------------------------------------------------------


async def test_status(server: ServerProcess) -> None:
    response = await rest(server, "GET", "/status")
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True and body["message"] == "General socket is running", body


async def test_the_openapi_schema_is_valid_and_lists_the_emit_routes(
    server: ServerProcess,
) -> None:
    response = await rest(server, "GET", "/api/schema/", params={"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    validate_schema(schema)
    paths = schema["paths"]
    for path in (
        "/emit/{user_id}/{event}",
        "/emit/account/{account_id}/{event}",
        "/emit/room/{room}/{event}",
    ):
        operation = paths[path]["post"]
        parameters = {p["name"]: p for p in operation["parameters"]}
        assert {"event", "namespace"} <= set(parameters), parameters
        assert parameters["namespace"]["schema"]["enum"] == ["conversation", "live", "shared"]
        assert "application/json" in operation["requestBody"]["content"]
        assert "200" in operation["responses"]
    assert "get" in paths["/online/{user_id}"] and "get" in paths["/status"]
    yaml = await rest(server, "GET", "/api/schema/")
    assert yaml.status_code == 200 and yaml.text.startswith("openapi: 3.")


async def test_the_docs_page_and_its_assets_are_served(server: ServerProcess) -> None:
    page = await rest(server, "GET", "/api/docs/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "swagger" in page.text.lower() and "/api/schema/" in page.text
    assets = re.findall(r'(?:src|href)="(/static/[^"]+)"', page.text)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets)
    for asset in assets:
        response = await rest(server, "GET", asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 0
