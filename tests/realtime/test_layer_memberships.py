"""Group memberships on the pub/sub layer, against a real redis-server: many joins at once go
out in a few loop turns rather than one per turn, and a join, leave and join keep their order."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.test import override_settings

from realtime.layerlink import LayerLink
from realtime.redisconn import layer_host
from tests.support.servers import RedisServer

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"


@pytest.fixture
def pubsub_layer(redis_server: RedisServer) -> Iterator[redis.Redis]:
    host = layer_host(redis_server.url, max_connections=16)  # as the settings make it
    layers = {"default": {"BACKEND": PUBSUB, "CONFIG": {"hosts": [host]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        client = redis.Redis.from_url(redis_server.url)
        yield client
        client.close()


def subscribed(client: redis.Redis, groups: list[str]) -> dict[str, int]:
    """Subscribers of each group's channel, by group (channels_redis's channel names)."""
    names = [n.decode() if isinstance(n, bytes) else n for n in client.pubsub_channels()]
    return {g: sum(name.endswith(f"__group__{g}") for name in names) for g in groups}


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
    assert set(subscribed(pubsub_layer, groups).values()) == {1}
    await asyncio.gather(*(link.group_discard(group) for group in groups))
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
    assert subscribed(pubsub_layer, ["again"]) == {"again": 1}
    await asyncio.gather(link.group_add("gone"), link.group_discard("gone"))
    assert subscribed(pubsub_layer, ["gone"]) == {"gone": 0}
    await link.group_discard("again")
