"""Group memberships on the pub/sub layer, against a real redis-server: many joins at once go
out in a few loop turns rather than one per turn, and a join, leave and join keep their order."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from realtime.layerlink import LayerLink


def subscribed(client: redis.Redis, groups: list[str]) -> dict[str, int]:
    """Subscribers of each group's channel, by group (channels_redis's channel names)."""
    names = [n.decode() if isinstance(n, bytes) else n for n in client.pubsub_channels()]
    return {g: sum(name.endswith(f"__group__{g}") for name in names) for g in groups}


async def subscribed_soon(
    client: redis.Redis, groups: list[str], expected: int, within_s: float = 2.0
) -> set[int]:
    """The subscriber counts of `groups` once they all equal `expected`, or when `within_s`
    is up. redis-py writes SUBSCRIBE and UNSUBSCRIBE without waiting for Redis to confirm
    them, so another connection can ask before Redis has read the last one."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    counts = set(subscribed(client, groups).values())
    while counts != {expected} and loop.time() < deadline:
        await asyncio.sleep(0.01)
        counts = set(subscribed(client, groups).values())
    return counts


async def memberships_read(link: LayerLink, client: redis.Redis) -> None:
    """Return once Redis has read every SUBSCRIBE and UNSUBSCRIBE `link` has sent so far: they
    share one connection (one shard), so once a marker group joined after them shows up,
    they have been read too. Lets a test see "not subscribed" as a settled answer."""
    await link.group_add("marker")
    assert await subscribed_soon(client, ["marker"], 1) == {1}
    await link.group_discard("marker")


async def count_turns_until(done: asyncio.Future[Any]) -> int:
    """The event loop's turns until `done` (a callback rescheduled once per turn counts)."""
    loop = asyncio.get_running_loop()
    turns = 0

    def tick() -> None:
        nonlocal turns
        turns += 1
        if not done.done():
            loop.call_soon(tick)

    loop.call_soon(tick)
    await done
    return turns


@pytest.mark.asyncio
async def test_many_joins_at_once_go_out_in_a_few_loop_turns(pubsub_layer: redis.Redis) -> None:
    """A connect storm: each socket joins its room. Each SUBSCRIBE took turns of its own under
    the pub/sub shard's lock (redis-py's timed write), so the joins queued on that lock went
    out one per loop turn or slower: hundreds of turns (realtime.redisconn)."""
    link = LayerLink(groups=lambda: [])
    assert await link.ready(timeout=5)
    groups = [f"storm-{n}" for n in range(200)]
    joins = asyncio.gather(*(link.group_add(group) for group in groups))
    turns = await count_turns_until(joins)
    assert turns < 30, turns
    assert await subscribed_soon(pubsub_layer, groups, 1) == {1}
    await asyncio.gather(*(link.group_discard(group) for group in groups))
    await memberships_read(link, pubsub_layer)
    assert set(subscribed(pubsub_layer, groups).values()) == {0}


@pytest.mark.asyncio
async def test_a_join_leave_and_join_asked_at_once_keep_their_order(
    pubsub_layer: redis.Redis,
) -> None:
    link = LayerLink(groups=lambda: [])
    assert await link.ready(timeout=5)
    await asyncio.gather(
        link.group_add("again"), link.group_discard("again"), link.group_add("again")
    )
    assert await subscribed_soon(pubsub_layer, ["again"], 1) == {1}
    await asyncio.gather(link.group_add("gone"), link.group_discard("gone"))
    await memberships_read(link, pubsub_layer)
    assert subscribed(pubsub_layer, ["gone"]) == {"gone": 0}
    await link.group_discard("again")
