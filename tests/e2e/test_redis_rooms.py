"""Two server processes on a real redis-server: rooms, broadcasts and emits to a sid span both."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from tests.support.clients import RecordingClient
from tests.support.servers import ServerProcess

pytestmark = pytest.mark.redis

TEST = "/test"

# connects a client to process 0 or 1 of the cluster
Connect = Callable[[int], Awaitable[RecordingClient]]


@pytest.fixture
async def on(adapter_cluster: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[Connect]:
    made: list[RecordingClient] = []

    async def connect(process: int) -> RecordingClient:
        recording = RecordingClient(adapter_cluster[process].url, ["websocket"], [TEST])
        made.append(recording)
        return await recording.connect()

    yield connect
    for recording in made:
        await recording.close()


def room_name() -> str:
    return f"room-{uuid.uuid4().hex[:8]}"


async def test_room_emit_reaches_a_client_on_another_process(on: Connect) -> None:
    room, other = room_name(), room_name()
    ana, amy = await on(0), await on(0)  # process A
    bob = await on(1)  # process B
    assert await ana.call(TEST, "join", room) == [room]
    assert await amy.call(TEST, "join", other) == [other]
    assert await bob.call(TEST, "join", room) == [room]
    bob_sid = bob.sid(TEST)

    await bob.call(TEST, "say", {"to": room, "data": 1, "include_self": False})
    await bob.call(TEST, "say", {"to": [room, other], "data": 2})
    assert await ana.next(TEST, "said") == [{"from": bob_sid, "data": 1}]
    assert await ana.next(TEST, "said") == [{"from": bob_sid, "data": 2}]
    assert await bob.next(TEST, "said") == [{"from": bob_sid, "data": 2}]  # not 1
    assert await amy.next(TEST, "said") == [{"from": bob_sid, "data": 2}]  # not 1

    # excluded rooms hold on the other process too; a room left is left everywhere
    assert await amy.call(TEST, "join", room) == sorted([room, other])
    await bob.call(TEST, "say", {"to": room, "data": 3, "exclude": [other]})
    assert await ana.next(TEST, "said") == [{"from": bob_sid, "data": 3}]
    assert await ana.call(TEST, "leave", room) == []
    await bob.call(TEST, "say", {"to": [room, other], "data": 4})
    assert await amy.next(TEST, "said") == [{"from": bob_sid, "data": 4}]  # not 3
    # a direct emit travels behind the broadcast on process A's channel
    await bob.call(TEST, "direct", {"sid": ana.sid(TEST), "data": "marker"})
    assert await ana.next(TEST, "direct") == ["marker"]
    assert ana.received(TEST, "said") == []  # not 4


async def test_broadcast_to_several_rooms_is_delivered_once_per_socket(on: Connect) -> None:
    first, second = room_name(), room_name()
    ana, amy = await on(0), await on(0)
    bob, ben, cid = await on(1), await on(1), await on(1)
    for recording, rooms in [(ana, [first, second]), (amy, [first]), (bob, [first, second])]:
        for room in rooms:
            await recording.call(TEST, "join", room)
    await ben.call(TEST, "join", second)
    cid_sid = cid.sid(TEST)

    await cid.call(TEST, "say", {"to": [first, second], "data": "once"})
    await cid.call(TEST, "say", {"to": [first, second], "data": "marker"})
    for recording in (ana, amy, bob, ben):
        assert await recording.next(TEST, "said") == [{"from": cid_sid, "data": "once"}]
        assert await recording.next(TEST, "said") == [{"from": cid_sid, "data": "marker"}]
    assert cid.received(TEST, "said") == []


async def test_namespace_broadcast_with_realtime_emit_spans_processes(on: Connect) -> None:
    room = room_name()
    ana, bob = await on(0), await on(1)
    await ana.call(TEST, "join", room)
    assert await bob.call(TEST, "broadcast", {"data": "to the room", "to": room}) == {"local": 0}
    assert await ana.next(TEST, "news") == ["to the room"]
    result = await bob.call(TEST, "broadcast", {"data": "to all"})
    assert result["local"] >= 1  # bob, and whoever else is on process B
    assert await ana.next(TEST, "news") == ["to all"]
    assert await bob.next(TEST, "news") == ["to all"]


async def test_emit_to_a_sid_on_another_process(on: Connect) -> None:
    ana, bob = await on(0), await on(1)
    result = await bob.call(TEST, "direct", {"sid": ana.sid(TEST), "data": {"bin": b"\x00\xff"}})
    assert result == {"local": False}  # delivered by process A
    assert await ana.next(TEST, "direct") == [{"bin": b"\x00\xff"}]
    assert bob.received(TEST, "direct") == []


async def test_disconnect_is_heard_on_another_process(on: Connect) -> None:
    room = room_name()
    ana, bob = await on(0), await on(1)
    await ana.call(TEST, "join", room)
    await bob.call(TEST, "join", room)
    ana_sid = ana.sid(TEST)
    await ana.emit(TEST, "kick")
    assert await bob.next(TEST, "left") == [
        {"sid": ana_sid, "reason": "server namespace disconnect"}
    ]
