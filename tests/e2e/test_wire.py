"""Exact frames against a real server: CONNECT_ERROR, binary placeholders, namespace
disconnects, maxPayload on both transports, and protocol violations that close one connection
and leave every other alone."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.clients import RawPolling, RawWebSocket
from tests.support.servers import ServerProcess

TEST = "/test"
MAX_PAYLOAD = 1_000_000  # the contract's default, which the test settings keep
PLACEHOLDER = '{"_placeholder":true,"num":0}'
PLACEHOLDER_1 = '{"_placeholder":true,"num":1}'

Opener = Callable[[], Awaitable[RawWebSocket]]


@pytest.fixture
async def raw(adapter_server: ServerProcess) -> AsyncIterator[Opener]:
    """Opens raw WebSocket connections; all closed afterwards."""
    opened: list[RawWebSocket] = []

    async def open_() -> RawWebSocket:
        ws = await RawWebSocket.open(adapter_server.url)
        opened.append(ws)
        return ws

    yield open_
    for ws in opened:
        await ws.close()


def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


def left_frame(sid: str, reason: str) -> str:
    """What a room hears when a socket of the test namespace goes."""
    return "42/test," + json.dumps(["left", {"sid": sid, "reason": reason}], separators=(",", ":"))


async def test_handshake(raw: Opener) -> None:
    ws = await raw()
    assert set(ws.handshake) == {"sid", "upgrades", "pingInterval", "pingTimeout", "maxPayload"}
    assert ws.handshake["upgrades"] == []
    assert ws.handshake["maxPayload"] == MAX_PAYLOAD


async def test_connect_error_frames_keep_the_connection(raw: Opener) -> None:
    ws = await raw()
    await ws.send("40/private,")
    assert await ws.recv() == '44/private,{"message":"NOT_AUTHENTICATED","data":{"errno":401}}'
    await ws.send('40/private,{"token":"wrong"}')
    assert await ws.recv() == '44/private,{"message":"NOT_AUTHENTICATED","data":{"errno":401}}'
    await ws.send('40/test,{"refuse":"no"}')
    assert await ws.recv() == '44/test,{"message":"REFUSED","data":{"errno":403,"why":"no"}}'
    await ws.send("40/nowhere,")
    assert await ws.recv() == '44/nowhere,{"message":"Invalid namespace"}'
    # the same connection connects once the auth is right
    sid = await ws.connect("/private", {"token": "letmein"})
    assert await ws.call("/private", 1, "whoami") == [
        {
            "sid": sid,
            "namespace": "/private",
            "rooms": [],
            "auth": {"token": "letmein"},
            "kwargs": {},
        }
    ]


async def test_welcome_is_held_until_the_connect_ack(raw: Opener) -> None:
    ws = await raw()
    await ws.send('40/test,{"a":1}')
    connect = await ws.recv()
    assert isinstance(connect, str) and connect.startswith('40/test,{"sid":')
    sid = json.loads(connect[len("40/test,") :])["sid"]
    assert await ws.recv() == (
        '42/test,["welcome",{"sid":"' + sid + '","namespace":"/test","auth":{"a":1}}]'
    )


async def test_binary_placeholders_on_the_wire(raw: Opener) -> None:
    ws = await raw()
    await ws.connect(TEST)
    # a binary event with an ack, nested attachments, comes back as a binary ack
    await ws.send('452-/test,7["echo",' + PLACEHOLDER + ',{"deep":[' + PLACEHOLDER_1 + "]}]")
    await ws.send(b"\x00\x01")
    await ws.send(b"\xff")
    assert await ws.recv() == "462-/test,7[" + PLACEHOLDER + ',{"deep":[' + PLACEHOLDER_1 + "]}]"
    assert await ws.recv() == b"\x00\x01"
    assert await ws.recv() == b"\xff"
    # and a server-sent binary event
    await ws.send(f'451-/test,["echo_event","text",{PLACEHOLDER}]')
    await ws.send(b"\x02")
    assert await ws.recv() == f'451-/test,["echoed","text",{PLACEHOLDER}]'
    assert await ws.recv() == b"\x02"


async def test_client_namespace_disconnect_keeps_the_connection(raw: Opener) -> None:
    room = room_name()
    ws, watcher = await raw(), await raw()
    sid = await ws.connect(TEST)
    await ws.connect("/other")
    await watcher.connect(TEST)
    assert await ws.call(TEST, 1, "join", room) == [[room]]
    assert await watcher.call(TEST, 1, "join", room) == [[room]]
    await ws.send("41/test,")
    left = await watcher.recv()
    assert left == left_frame(sid, "client namespace disconnect")
    assert (await ws.call("/other", 2, "whoami"))[0]["namespace"] == "/other"
    # an event for the namespace it left is ignored, the connection stays
    await ws.send('42/test,3["echo","gone"]')
    assert await ws.call("/other", 4, "echo", "here") == ["here"]


async def test_server_namespace_disconnect_frame(raw: Opener) -> None:
    ws = await raw()
    await ws.connect(TEST)
    await ws.connect("/other")
    await ws.send('42/test,["kick"]')
    assert await ws.recv() == "41/test,"
    assert await ws.call("/other", 1, "echo", "still") == ["still"]


# ----- protocol violations ------------------------------------------------------------------

DEEP = f'451-/test,["echo",{"[" * 1000}{PLACEHOLDER}{"]" * 1000}]'

VIOLATIONS: dict[str, list[str | bytes]] = {
    "event-not-a-list": ["42/test,{}"],
    "reserved-event": ['42/test,["disconnect"]'],
    "not-json": ['42/test,["echo"'],
    "ack-without-id": ['43/test,["x"]'],
    "ack-id-of-5000-digits": ["43/test," + "1" * 5000 + "[]"],
    "attachment-count-of-5000-digits": ["45" + "1" * 5000 + '-/test,["echo"]'],
    "unannounced-binary": [b"\x01\x02"],
    "placeholder-out-of-range": [
        '451-/test,["echo",{"_placeholder":true,"num":3}]',
        b"\x01",
    ],
    "text-while-attachments-due": ['452-/test,["echo",' + PLACEHOLDER + "]", b"\x01", "42[]"],
    "binary-nested-too-deep": [DEEP, b"\x01"],
    "client-connect-error": ['44/test,{"message":"x"}'],
    "unknown-socketio-type": ["49"],
    "unknown-engineio-type": ["9"],
    "engineio-open-from-client": ["0"],
}


@pytest.mark.parametrize("frames", list(VIOLATIONS.values()), ids=list(VIOLATIONS))
async def test_violation_closes_that_connection_only(
    raw: Opener, frames: list[str | bytes]
) -> None:
    room = room_name()
    offender, bystander = await raw(), await raw()
    offender_sid = await offender.connect(TEST)
    await bystander.connect(TEST)
    assert await offender.call(TEST, 1, "join", room) == [[room]]
    assert await bystander.call(TEST, 1, "join", room) == [[room]]
    for frame in frames:
        await offender.send(frame)
    assert await offender.wait_closed() == []
    # the server let the socket go at once (not at a ping timeout), and the bystander is served
    assert await bystander.recv() == left_frame(offender_sid, "parse error")
    assert await bystander.call(TEST, 2, "echo", "fine") == ["fine"]


async def test_violation_over_polling_closes_that_session_only(
    adapter_server: ServerProcess, raw: Opener
) -> None:
    room = room_name()
    bystander = await raw()
    await bystander.connect(TEST)
    assert await bystander.call(TEST, 1, "join", room) == [[room]]
    offender = await RawPolling.open(adapter_server.url)
    try:
        assert (await offender.post(f'40/test,\x1e42/test,1["join","{room}"]')).text == "ok"
        payload = (await offender.get()).text.split("\x1e")
        assert payload[0].startswith('40/test,{"sid":')
        assert payload[1].startswith('42/test,["welcome",')
        assert payload[2] == f'43/test,1[["{room}"]]'
        offender_sid = json.loads(payload[0][len("40/test,") :])["sid"]
        assert (await offender.post("42/test,{}")).text == "ok"
        gone = await offender.get()
        assert (gone.status_code, gone.json()) == (
            400,
            {"code": 1, "message": "Session ID unknown"},
        )
    finally:
        await offender.close()
    assert await bystander.recv() == left_frame(offender_sid, "parse error")
    assert await bystander.call(TEST, 2, "echo", "fine") == ["fine"]


# ----- maxPayload -----------------------------------------------------------------------------


def padded_echo(size: int, char: str = "x") -> str:
    """`42/test,1["echo","xxx…"]`, exactly `size` bytes long (ASCII `char`)."""
    head, tail = '42/test,1["echo","', '"]'
    return head + char * (size - len(head) - len(tail)) + tail


async def test_websocket_frame_of_exactly_max_payload_is_served(raw: Opener) -> None:
    ws = await raw()
    await ws.connect(TEST)
    frame = padded_echo(MAX_PAYLOAD)
    assert len(frame) == MAX_PAYLOAD
    await ws.send(frame)
    assert await ws.recv() == "43/test,1[" + frame[len('42/test,1["echo",') :]


@pytest.mark.parametrize(
    "frame",
    [
        padded_echo(MAX_PAYLOAD + 1),
        # maxPayload counts bytes: 340,000 euro signs are 1.02 MB of UTF-8 (and under
        # daphne's own 1 MiB message limit, which closes the socket before we see it)
        '42/test,["echo_event","' + "€" * 340_000 + '"]',
    ],
    ids=["one-byte-over", "multibyte-over"],
)
async def test_websocket_frame_over_max_payload_closes_that_connection_only(
    raw: Opener, frame: str
) -> None:
    room = room_name()
    offender, bystander = await raw(), await raw()
    offender_sid = await offender.connect(TEST)
    await bystander.connect(TEST)
    assert await offender.call(TEST, 1, "join", room) == [[room]]
    assert await bystander.call(TEST, 1, "join", room) == [[room]]
    await offender.send(frame)
    assert await offender.wait_closed() == []
    assert await bystander.recv() == left_frame(offender_sid, "transport error")
    assert await bystander.call(TEST, 2, "echo", "fine") == ["fine"]


async def test_polling_body_over_max_payload_closes_the_session(
    adapter_server: ServerProcess,
) -> None:
    polling = await RawPolling.open(adapter_server.url)
    try:
        assert (await polling.post("40/test,")).text == "ok"
        assert (await polling.get()).text.startswith('40/test,{"sid":')
        assert (await polling.post(padded_echo(MAX_PAYLOAD))).text == "ok"
        assert (await polling.get()).text == '43/test,1["' + "x" * (MAX_PAYLOAD - 20) + '"]'
        too_large = await polling.post(padded_echo(MAX_PAYLOAD + 1))
        assert too_large.status_code == 413
        assert (await polling.get()).status_code == 400
    finally:
        await polling.close()


async def test_a_websocket_outside_the_mounts_is_refused(adapter_server: ServerProcess) -> None:
    """Only the Engine.IO mounts take WebSockets; Django's routes are HTTP only."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import InvalidStatus

    url = adapter_server.url.replace("http://", "ws://") + "/emit/u1/hello"
    with pytest.raises(InvalidStatus) as refused:
        async with connect(url):
            pass
    assert refused.value.response.status_code == 403  # closed before it was accepted
