"""Fuzz cases over HTTP long-polling: bad query strings and methods, unknown sids, malformed
and oversized bodies, overlapping polls and POSTs, big headers, and raw bytes on the port."""

from __future__ import annotations

import asyncio
import json
import random
from urllib.parse import parse_qs

import httpx

from realtime.jsoncodec import MAX_DEPTH

from .wire import (
    BAD_HANDSHAKE_METHOD,
    BAD_REQUEST,
    CLOSED,
    HTTP_ERROR,
    IGNORED,
    STEP_TIMEOUT_S,
    UNKNOWN_SID,
    UNKNOWN_TRANSPORT,
    UNSUPPORTED_PROTOCOL_VERSION,
    Target,
    Unclean,
    expect_http_error,
    polling_close,
    polling_gone,
    polling_open,
    polling_url,
)

# bodies that are no Engine.IO payload, or carry a packet a client may not send
MALFORMED_BODIES = [
    b"",
    b"\x1e",
    b"4\x1e",
    b"7",
    b"9hello",
    b"2",
    b"0",
    b"5",
    b"b!!!notbase64",
    b"b" + b"QQ=",
    b"\xff\xfe\xfd",
    b"4hello\x1e\xc3\x28",
    b"3\x1e2probe",
]


HANDSHAKE = b"GET /socket.io/?EIO=4&transport=polling"
TLS_HELLO = b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"  # TLS to a plain-HTTP port


def expected_handshake_error(method: str, raw_query: str) -> tuple[int, int] | None:
    """What the reference server answers to this query without a live sid (None: a handshake)."""
    query = {key: values[0] for key, values in parse_qs(raw_query, keep_blank_values=True).items()}
    if query.get("EIO") != "4":
        return UNSUPPORTED_PROTOCOL_VERSION
    if query.get("transport") != "polling":
        return UNKNOWN_TRANSPORT
    if "sid" in query:  # looked up first, whatever the method
        return UNKNOWN_SID
    if method != "GET":
        return BAD_HANDSHAKE_METHOD
    return None


def random_query(rng: random.Random) -> str:
    parts = [
        rng.choice(
            ["EIO=4", "EIO=4", "EIO=3", "EIO=5", "EIO=", "EIO=04", "EIO=%34", "EIO=4.0", ""]
        ),
        rng.choice(
            ["transport=polling"] * 3
            + ["transport=websocket", "transport=", "transport=POLLING", "transport=polling%00", ""]
        ),
    ]
    if rng.random() < 0.4:
        parts.append(
            rng.choice(["sid=", "sid=nope", "sid=%ff%fe", "sid=" + "s" * 2000, "sid=a&sid=b"])
        )
    if rng.random() < 0.4:
        parts.append(rng.choice(["&&&", "a=%", "=x", "j=" + "y" * 3000, "t=1&b64=1", "%00=%00"]))
    rng.shuffle(parts)
    return "&".join(part for part in parts if part)


async def bad_query(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    method = rng.choice(["GET", "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD"])
    raw_query = random_query(rng)
    url = f"{target.url}/socket.io/?{raw_query}"
    sent = httpx.URL(url).query.decode("latin-1")  # what the server reads
    response = await http.request(method, url, content=b"4x" if method != "GET" else None)
    expected = expected_handshake_error(method, sent)
    if expected is None:  # a valid handshake after all
        if response.status_code != 200 or not response.text.startswith("0{"):
            raise Unclean(f"handshake {sent[:80]!r}: {response.status_code} {response.text!r}")
        sid = json.loads(response.text[1:])["sid"]
        await polling_close(target, http, sid)
        return IGNORED
    if method == "HEAD":  # no body to check
        if response.status_code != expected[0]:
            raise Unclean(f"HEAD {sent[:80]!r}: {response.status_code}, expected {expected}")
        return HTTP_ERROR
    return expect_http_error(response, expected)


async def bad_method(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    sid = await polling_open(target, http)
    try:
        method = rng.choice(["PUT", "DELETE", "PATCH"])
        response = await http.request(method, polling_url(target, sid), content=b"40")
        return expect_http_error(response, BAD_REQUEST)
    finally:
        await polling_close(target, http, sid)


async def unknown_sid(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    sid = rng.choice(["nope", "A" * 20, rng.randbytes(12).hex(), "00000000" + "x" * 16])
    method = rng.choice(["GET", "POST"])
    body = rng.choice([b"40", b"1", rng.randbytes(40)]) if method == "POST" else None
    response = await http.request(method, polling_url(target, sid), content=body)
    return expect_http_error(response, UNKNOWN_SID)


async def malformed_body(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    sid = await polling_open(target, http)
    if rng.random() < 0.7:
        body = rng.choice(MALFORMED_BODIES)
    else:
        body = rng.choice([b"9", b"\xff", b"b*"]) + rng.randbytes(rng.randint(0, 100))
    response = await http.post(polling_url(target, sid), content=body)
    expect_http_error(response, BAD_REQUEST)
    return await polling_gone(target, http, sid)


async def socketio_violation(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """A well-formed Engine.IO payload carrying a bad Socket.IO packet: the POST is taken,
    then the connection is closed by the Socket.IO layer."""
    sid = await polling_open(target, http)
    packet = rng.choice(["4x", "47", "42[]", "43[]", '44{"message":"x"}', "b" + "AAEC"])
    response = await http.post(polling_url(target, sid), content=packet.encode())
    if (response.status_code, response.text) != (200, "ok"):
        raise Unclean(f"POST {packet!r}: {response.status_code} {response.text!r}")
    return await polling_gone(target, http, sid)


async def oversized_body(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    sid = await polling_open(target, http)
    body = b"4" + b"z" * (target.max_payload + rng.randint(0, 4096))
    if rng.random() < 0.5:
        response = await http.post(polling_url(target, sid), content=body)
    else:  # chunked: no Content-Length to refuse it by

        async def chunks():
            for start in range(0, len(body), 65_536):
                yield body[start : start + 65_536]

        response = await http.post(polling_url(target, sid), content=chunks())
    if response.status_code != 413:
        raise Unclean(f"oversized POST answered {response.status_code}")
    return await polling_gone(target, http, sid)


async def overlapping_polls(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """A second GET while one waits: refused, and the session is closed (as the reference)."""
    sid = await polling_open(target, http)
    first = asyncio.ensure_future(http.get(polling_url(target, sid)))
    await asyncio.sleep(0.05)
    second = await http.get(polling_url(target, sid))
    expect_http_error(second, BAD_REQUEST)
    answer = await asyncio.wait_for(first, STEP_TIMEOUT_S)
    if answer.status_code != 200 or answer.text.split("\x1e")[-1] != "1":
        raise Unclean(f"the waiting poll got {answer.status_code} {answer.text!r}")
    return await polling_gone(target, http, sid)


async def overlapping_posts(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """A POST whose body is still coming while another POST arrives. Daphne hands a request
    to the application only once its body is complete, so the second is taken (200); a
    server that streams bodies refuses it (400) and closes the session. The slow one then
    finishes either way."""
    sid = await polling_open(target, http)
    host, port = target.host_port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        body = b"6\x1e6\x1e6"
        path = f"/socket.io/?EIO=4&transport=polling&sid={sid}"
        head = f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {len(body)}\r\n\r\n"
        writer.write(head.encode() + body[:2])
        await writer.drain()
        await asyncio.sleep(0.05)
        second = await http.post(polling_url(target, sid), content=b"6")
        if (second.status_code, second.text) != (200, "ok"):
            expect_http_error(second, BAD_REQUEST)
        writer.write(body[2:])
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), STEP_TIMEOUT_S)
        if status_line.split()[:2] not in ([b"HTTP/1.1", b"200"], [b"HTTP/1.1", b"400"]):
            raise Unclean(f"the slow POST got {status_line!r}")
    finally:
        writer.close()
    if second.status_code == 200:
        await polling_close(target, http, sid)
        return IGNORED
    return await polling_gone(target, http, sid)


async def big_headers(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """Large but reasonable headers (under the HTTP server's 16 KB): served normally."""
    headers = rng.choice(
        [
            {"X-Big": "h" * 8_000},
            {f"X-H{n}": "v" * 200 for n in range(40)},
            {"Cookie": "; ".join(f"c{n}={'k' * 50}" for n in range(100))},
            {"X-Forwarded-For": ", ".join(["198.51.100.7"] * 300)},
            {"Origin": "null", "Referer": "r" * 4_000},
        ]
    )
    response = await http.get(polling_url(target), headers=headers)
    if response.status_code != 200 or not response.text.startswith("0{"):
        raise Unclean(f"big headers: {response.status_code} {response.text[:200]!r}")
    sid = json.loads(response.text[1:])["sid"]
    await polling_close(target, http, sid)
    return IGNORED


async def raw_bytes(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """Bytes that are no HTTP request: the server answers 400 or hangs up. (Each ends its
    first line: bytes with no line end are an unfinished request line, which the HTTP server
    waits for; idle connections are a proxy's job, see SECURITY.md.)"""
    host, port = target.host_port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        junk = rng.choice(
            [
                rng.randbytes(rng.randint(1, 2000)) + b"\r\n\r\n",
                HANDSHAKE + b" HTTP/9.9\r\n\r\n",
                HANDSHAKE + b" HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
                b"POST" + HANDSHAKE[3:] + b" HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
                TLS_HELLO + rng.randbytes(64) + b"\r\n\r\n",
            ]
        )
        writer.write(junk)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(4096), STEP_TIMEOUT_S)
    except ConnectionResetError:
        return CLOSED
    except TimeoutError:
        raise Unclean("raw bytes: no answer and no hang-up") from None
    finally:
        writer.close()
    if answer and not answer.startswith(b"HTTP/1.1 4"):
        raise Unclean(f"raw bytes answered {answer[:100]!r}")
    return HTTP_ERROR if answer else CLOSED


async def preflight(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    origin = rng.choice(["http://evil.example", "null", "x" * 2000, ""])
    response = await http.options(polling_url(target), headers={"Origin": origin})
    if response.status_code != 204:
        raise Unclean(f"preflight answered {response.status_code}")
    return IGNORED


def hostile_json(rng: random.Random, max_payload: int) -> bytes:
    """A body a REST caller might send by mistake or malice: nested past any limit, not quite
    JSON, numbers no float holds, strings that are no UTF-8, or too big."""
    depth = rng.choice([MAX_DEPTH, MAX_DEPTH + 1, 300, 1_100, 50_000])
    opener, closer = rng.choice([(b"[", b"]"), (b'{"k":', b"}")])
    return rng.choice(
        [
            opener * depth + b"0" + closer * depth,
            (opener * depth + b"0" + closer * depth)[: rng.randint(1, 2 * depth)],
            rng.randbytes(rng.randint(1, 3000)),
            b"1e999",
            b'{"n": 123456789012345678901234567890, "m": -1e-999}',
            b'{"a": 1, "a": [NaN]}',
            b'"\\ud800" ',
            b'{"\\udc00": "\\u0000", "big": [1e999, 123456789012345678901234567890]}',
            b"\xef\xbb\xbf{}",
            b"[" + b"1," * (max_payload // 2 - 1) + b"1]",
            b'{"_placeholder": true, "num": 0}',
        ]
    )


async def hostile_emit(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """A REST emit with a hostile body: answered 200 or 4xx in the API's envelope, never a
    5xx (with the test namespaces' settings, where the emit API may be absent, a 404)."""
    body = hostile_json(rng, target.max_payload)
    headers = {"Content-Type": rng.choice(["application/json", "text/plain"])}
    url = f"{target.url}/emit/fuzz-user/fuzz_event?namespace={rng.choice(['shared', 'x'])}"
    response = await http.post(url, content=body, headers=headers)
    if response.status_code >= 500:
        raise Unclean(f"hostile emit answered {response.status_code} {response.text[:200]!r}")
    if response.status_code >= 400:
        if response.headers.get("content-type", "") != "application/json":
            raise Unclean(f"hostile emit's {response.status_code} is no JSON envelope")
        return HTTP_ERROR
    return IGNORED


HTTP_CASES = {
    "http-bad-query": (bad_query, 4),
    "http-bad-method": (bad_method, 1),
    "http-unknown-sid": (unknown_sid, 2),
    "http-malformed-body": (malformed_body, 3),
    "http-socketio-violation": (socketio_violation, 2),
    "http-oversized-body": (oversized_body, 1),
    "http-overlapping-polls": (overlapping_polls, 1),
    "http-overlapping-posts": (overlapping_posts, 1),
    "http-big-headers": (big_headers, 1),
    "http-raw-bytes": (raw_bytes, 1),
    "http-preflight": (preflight, 1),
    "http-hostile-emit": (hostile_emit, 2),
}
