"""python-socketio's client against a real server, over websocket, polling with upgrade, and
polling only: connect, namespaces, events, acks both ways, binary, rooms, disconnects."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import socketio

from tests.support.clients import TRANSPORTS, RecordingClient
from tests.support.namespaces import PRIVATE_TOKEN
from tests.support.servers import ServerProcess

ClientFactory = Callable[..., Awaitable[RecordingClient]]

TEST, OTHER = "/test", "/other"
MAX_PAYLOAD = 1_000_000  # the contract's default, which the test settings keep


@pytest.fixture(params=list(TRANSPORTS))
def transport(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
async def client(adapter_server: ServerProcess, transport: str) -> AsyncIterator[ClientFactory]:
    """Connects python-socketio clients on the transport under test; all closed afterwards."""
    made: list[RecordingClient] = []

    async def make(namespaces: list[str] = [TEST], auth: Any = None) -> RecordingClient:  # noqa: B006
        recording = RecordingClient(adapter_server.url, TRANSPORTS[transport], namespaces)
        made.append(recording)
        return await recording.connect(auth)

    yield make
    for recording in made:
        await recording.close()


def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def test_connect_with_auth_payload(client: ClientFactory, transport: str) -> None:
    auth = {"name": "ana", "n": 1, "nested": {"list": [1, "two"]}}
    ana = await client(auth=auth)
    sid = ana.sid(TEST)
    assert await ana.next(TEST, "welcome") == [{"sid": sid, "namespace": TEST, "auth": auth}]
    assert await ana.call(TEST, "whoami") == {
        "sid": sid,
        "namespace": TEST,
        "rooms": [],
        "auth": auth,
        "kwargs": {},
    }
    assert sid != ana.sio.eio.sid  # the Socket.IO sid is not the Engine.IO session id
    assert ana.sio.transport() == TRANSPORTS[transport][-1]  # the upgrade is done at connect


async def test_connect_without_auth_payload(client: ClientFactory) -> None:
    ana = await client()
    assert (await ana.next(TEST, "welcome"))[0]["auth"] == {}


async def test_refused_connect_gets_connect_error(
    adapter_server: ServerProcess, transport: str
) -> None:
    for namespace, auth, expected in [
        ("/private", None, {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}}),
        ("/private", {"token": "wrong"}, {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}}),
        (
            TEST,
            {"refuse": "banned"},
            {"message": "REFUSED", "data": {"errno": 403, "why": "banned"}},
        ),
    ]:
        refused = RecordingClient(adapter_server.url, TRANSPORTS[transport], [namespace])
        try:
            with pytest.raises(socketio.exceptions.ConnectionError):
                await refused.connect(auth)
            assert refused.connect_errors[namespace].get_nowait() == expected
        finally:
            await refused.close()


async def test_accepted_by_a_refusing_namespace_with_the_right_auth(client: ClientFactory) -> None:
    ana = await client(["/private"], auth={"token": PRIVATE_TOKEN})
    assert (await ana.call("/private", "whoami"))["namespace"] == "/private"


async def test_two_namespaces_on_one_connection(client: ClientFactory) -> None:
    ana = await client([TEST, OTHER, "/dyn-abc"], auth={"who": "ana"})
    sids = {namespace: ana.sid(namespace) for namespace in (TEST, OTHER, "/dyn-abc")}
    assert len(set(sids.values())) == 3  # one socket per namespace
    for namespace, sid in sids.items():
        who = await ana.call(namespace, "whoami")
        assert (who["sid"], who["namespace"], who["auth"]) == (sid, namespace, {"who": "ana"})
    assert (await ana.call("/dyn-abc", "whoami"))["kwargs"] == {"name": "abc"}
    # an event on one namespace reaches that namespace only
    await ana.emit(OTHER, "echo_event", "for other")
    assert await ana.next(OTHER, "echoed") == ["for other"]
    await ana.emit(TEST, "echo_event", "for test")
    assert await ana.next(TEST, "echoed") == ["for test"]
    assert ana.received(OTHER, "echoed") == []


async def test_events_and_acks_client_to_server(client: ClientFactory) -> None:
    ana = await client()
    args = ("a", 1, 2.5, None, True, {"x": [1, {"y": "ü✓"}]}, [])
    assert await ana.call(TEST, "echo", *args) == args
    assert await ana.call(TEST, "echo", "one") == "one"
    assert await ana.call(TEST, "echo") is None  # an empty ack
    await ana.emit(TEST, "echo_event", *args)
    assert await ana.next(TEST, "echoed") == list(args)


async def test_acks_server_to_client(client: ClientFactory) -> None:
    ana = await client()

    async def answer(a: int, b: int) -> tuple[int, str]:
        return a + b, "sum"

    ana.answers["question"] = answer
    assert await ana.call(TEST, "ask", {"args": [20, 22]}) == {"answer": [42, "sum"]}
    assert await ana.next(TEST, "question") == [20, 22]


async def test_server_call_times_out_and_a_late_ack_is_ignored(client: ClientFactory) -> None:
    ana = await client()
    answered = asyncio.Event()

    async def slow(value: int) -> int:
        await asyncio.sleep(0.6)
        answered.set()
        return value

    ana.answers["question"] = slow
    assert await ana.call(TEST, "ask", {"args": [1], "timeout": 0.2}) == {"timeout": True}
    await asyncio.wait_for(answered.wait(), 5)
    await asyncio.sleep(0.1)  # the late ack reaches the server
    assert await ana.call(TEST, "echo", "still fine") == "still fine"


BLOB = bytes(range(256))
NESTED = {"file": b"\x00\x01\xff", "parts": [{"deep": [b"abc", "text", {"z": b"\x00"}]}], "n": 1}


async def test_binary_both_ways(client: ClientFactory) -> None:
    ana = await client()
    # client -> server binary event with ack, server -> client binary ack
    assert await ana.call(TEST, "echo", BLOB, NESTED, "plain") == (BLOB, NESTED, "plain")
    # server -> client binary event
    await ana.emit(TEST, "echo_event", NESTED, BLOB)
    assert await ana.next(TEST, "echoed") == [NESTED, BLOB]

    # server -> client binary event with an ack id, client -> server binary ack
    async def reverse(blob: bytes, meta: dict[str, Any]) -> dict[str, Any]:
        return {"got": blob[::-1], "meta": meta}

    ana.answers["question"] = reverse
    answer = await ana.call(TEST, "ask", {"args": [b"\x01\x02\x03", {"k": [b"\xff"]}]})
    assert answer == {"answer": [{"got": b"\x03\x02\x01", "meta": {"k": [b"\xff"]}}]}


async def test_empty_binary_attachments(client: ClientFactory) -> None:
    """An empty attachment is `b` alone in a polling payload and an empty binary frame on a
    WebSocket (which daphne's ASGI `send` would drop, leaving the client waiting for it)."""
    ana = await client()
    assert await ana.call(TEST, "echo", b"", {"z": [b""]}, b"x") == (b"", {"z": [b""]}, b"x")


async def test_rooms_with_and_without_the_sender(client: ClientFactory) -> None:
    room, side = room_name(), room_name()
    ana, bob, cid = await client(), await client(), await client()
    assert await ana.call(TEST, "join", room) == [room]
    assert await bob.call(TEST, "join", room) == [room]
    assert await cid.call(TEST, "join", side) == [side]
    ana_sid = ana.sid(TEST)

    await ana.call(TEST, "say", {"to": room, "data": 1, "include_self": False})
    await ana.call(TEST, "say", {"to": room, "data": 2})
    await ana.call(TEST, "say", {"to": [room, side], "data": 3})
    assert await bob.next(TEST, "said") == [{"from": ana_sid, "data": 1}]
    assert await bob.next(TEST, "said") == [{"from": ana_sid, "data": 2}]
    assert await bob.next(TEST, "said") == [{"from": ana_sid, "data": 3}]
    assert await ana.next(TEST, "said") == [{"from": ana_sid, "data": 2}]  # not 1
    assert await ana.next(TEST, "said") == [{"from": ana_sid, "data": 3}]
    assert await cid.next(TEST, "said") == [{"from": ana_sid, "data": 3}]  # not 1 or 2

    # exclude: cid is in both rooms now, and rooms excluded win
    assert await cid.call(TEST, "join", room) == sorted([room, side])
    await ana.call(TEST, "say", {"to": room, "data": 4, "exclude": [side]})
    await ana.call(TEST, "say", {"to": [room, side], "data": 5})
    assert await bob.next(TEST, "said") == [{"from": ana_sid, "data": 4}]
    assert await bob.next(TEST, "said") == [{"from": ana_sid, "data": 5}]
    assert await cid.next(TEST, "said") == [{"from": ana_sid, "data": 5}]  # once, not 4
    await ana.call(TEST, "say", {"to": side, "data": 6})
    assert await cid.next(TEST, "said") == [{"from": ana_sid, "data": 6}]  # 5 came once

    # leave
    assert await bob.call(TEST, "leave", room) == []
    await ana.call(TEST, "say", {"to": room, "data": 7})
    await ana.call(TEST, "direct", {"sid": bob.sid(TEST), "data": "marker"})
    assert await bob.next(TEST, "direct") == ["marker"]
    assert bob.received(TEST, "said") == []
    assert await cid.next(TEST, "said") == [{"from": ana_sid, "data": 7}]


async def test_rooms_are_per_namespace(client: ClientFactory) -> None:
    room = room_name()
    ana = await client([TEST, OTHER])
    bob = await client([TEST, OTHER])
    await ana.call(OTHER, "join", room)
    await bob.call(TEST, "join", room)
    await bob.call(TEST, "say", {"to": room, "data": "test only"})
    assert await bob.next(TEST, "said") == [{"from": bob.sid(TEST), "data": "test only"}]
    await bob.call(OTHER, "say", {"to": room, "data": "other only"})
    assert await ana.next(OTHER, "said") == [{"from": bob.sid(OTHER), "data": "other only"}]
    assert ana.received(TEST, "said") == [] and bob.received(OTHER, "said") == []


async def test_broadcast_with_realtime_emit(client: ClientFactory) -> None:
    room = room_name()
    ana, bob, cid = await client(), await client(), await client([OTHER])
    await bob.call(TEST, "join", room)
    assert await ana.call(TEST, "broadcast", {"data": {"to": "room"}, "to": room}) == {"local": 1}
    assert await bob.next(TEST, "news") == [{"to": "room"}]
    everyone = await ana.call(TEST, "broadcast", {"data": {"to": "all"}})
    assert everyone["local"] >= 2
    assert await ana.next(TEST, "news") == [{"to": "all"}]
    assert await bob.next(TEST, "news") == [{"to": "all"}]
    assert ana.received(TEST, "news") == []  # the room emit did not reach ana
    # the whole-namespace broadcast stayed in /test
    assert await cid.call(OTHER, "broadcast", {"data": "other", "to": room_name()}) == {"local": 0}
    assert cid.received(OTHER, "news") == []


async def test_emit_to_sid(client: ClientFactory) -> None:
    ana, bob = await client(), await client()
    result = await ana.call(TEST, "direct", {"sid": bob.sid(TEST), "data": b"\x01bin"})
    assert result == {"local": True}
    assert await bob.next(TEST, "direct") == [b"\x01bin"]
    assert await ana.call(TEST, "direct", {"sid": "nobody", "data": 1}) == {"local": False}


async def test_server_disconnects_one_namespace(client: ClientFactory) -> None:
    room = room_name()
    ana = await client([TEST, OTHER])
    watcher = await client()
    await ana.call(TEST, "join", room)
    await watcher.call(TEST, "join", room)
    ana_sid = ana.sid(TEST)
    await ana.emit(TEST, "kick")
    assert await ana.next_disconnect(TEST) == "server disconnect"
    assert await watcher.next(TEST, "left") == [
        {"sid": ana_sid, "reason": "server namespace disconnect"}
    ]
    # the connection and the other namespace stay
    assert (await ana.call(OTHER, "whoami"))["namespace"] == OTHER
    assert ana.sio.connected


async def test_client_disconnects(client: ClientFactory, transport: str) -> None:
    """The client sends DISCONNECT for each namespace, then closes. Over WebSocket,
    python-engineio closes the socket without waiting for its write loop, so the server may
    see the transport close first."""
    reasons = {"client namespace disconnect"}
    if transport != "polling":
        reasons.add("transport close")
    room = room_name()
    ana = await client([TEST, OTHER])
    watcher = await client([TEST, OTHER])
    for namespace in (TEST, OTHER):
        await ana.call(namespace, "join", room)
        await watcher.call(namespace, "join", room)
    sids = {namespace: ana.sid(namespace) for namespace in (TEST, OTHER)}
    await ana.close()
    for namespace in (TEST, OTHER):
        [left] = await watcher.next(namespace, "left")
        assert left["sid"] == sids[namespace]
        assert left["reason"] in reasons
    assert await ana.next_disconnect(TEST) == "client disconnect"


async def test_oversized_packet_closes_the_session_only(
    client: ClientFactory, adapter_server: ServerProcess
) -> None:
    room = room_name()
    ana, watcher = await client(), await client()
    await ana.call(TEST, "join", room)
    await watcher.call(TEST, "join", room)
    ana_sid = ana.sid(TEST)
    await ana.emit(TEST, "echo_event", "x" * (MAX_PAYLOAD + 1))
    assert await ana.next_disconnect(TEST, timeout=10) == "transport error"
    assert await watcher.next(TEST, "left") == [{"sid": ana_sid, "reason": "transport error"}]
    assert ana.received(TEST, "echoed") == []
    # the server stays healthy: the watcher and a brand-new client are served
    assert await watcher.call(TEST, "echo", "alive") == "alive"
    newcomer = await client()
    assert await newcomer.call(TEST, "echo", "hello") == "hello"
    assert adapter_server.alive
