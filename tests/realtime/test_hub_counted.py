"""A counted broadcast (realtime.hub.Hub.broadcast_counted) between hubs of three processes on
a real redis-server: each process the broadcast reaches answers with its own count, and the
emitter waits for exactly those answers."""

from __future__ import annotations

import asyncio
import secrets

import pytest
import redis

from realtime.hub import Hub

NS = "/counted"
FRAMES = ['42/counted,["news"]']


class Socket:
    """What a hub needs of a socket: a sid, a namespace, and somewhere to deliver to."""

    def __init__(self, name: str) -> None:
        self.sid = f"{name}-{secrets.token_hex(4)}"
        self.namespace = NS
        self.got: list[list] = []

    def deliver(self, frames: list) -> None:
        self.got.append(frames)


async def process(*placed: tuple[Socket, list[str]]) -> Hub:
    """The hub of another process, its sockets in their rooms (and the namespace)."""
    hub = Hub(process_id=secrets.token_hex(4))
    for socket, rooms in placed:
        hub.add_socket(socket)  # type: ignore[arg-type]
        for room in [None, *rooms]:
            await hub.join(socket, room)  # type: ignore[arg-type]
    assert await hub.link.ready(timeout=5)
    return hub


async def counted(hub: Hub, rooms: list[str], exclude_rooms: tuple[str, ...] = ()) -> tuple:
    """A counted broadcast with a timeout it must never wait out."""
    request = hub.broadcast_counted(NS, FRAMES, rooms, list(exclude_rooms), [], timeout=30)
    return await asyncio.wait_for(request, 10)


@pytest.mark.asyncio
async def test_each_process_counts_its_own_sockets_once(pubsub_layer: redis.Redis) -> None:
    a1, b1, b2, c1 = Socket("a1"), Socket("b1"), Socket("b2"), Socket("c1")
    a = await process((a1, ["r1"]))
    await process((b1, ["r1", "r2"]), (b2, ["r2"]))  # b1 hears it in both rooms
    await process((c1, ["elsewhere"]))  # on the namespace, not in the rooms: not waited for

    assert await counted(a, ["r1", "r2"]) == (1, 2)
    for socket in (a1, b1, b2):
        assert socket.got == [FRAMES]
    assert c1.got == []

    # the sockets of an excluded room are not counted; their process still answers (0)
    assert await counted(a, ["r1", "r2"], exclude_rooms=("r2",)) == (1, 0)
    assert (a1.got, b1.got, b2.got) == ([FRAMES] * 2, [FRAMES], [FRAMES])


@pytest.mark.asyncio
async def test_rooms_no_other_process_has_wait_for_nobody(pubsub_layer: redis.Redis) -> None:
    here, there = Socket("here"), Socket("there")
    a = await process((here, ["mine"]))
    await process((there, ["theirs"]))
    assert await counted(a, ["mine"]) == (1, 0)  # only its own copy answers, with no hop
    assert await counted(a, ["nobody's"]) == (0, 0)
    assert there.got == []
