"""Group sends pipelined on the pub/sub layer, against a real redis-server
(realtime.pipelined): they arrive in order, in far fewer round trips than one at a time, and
only where the layer is the one this was written for."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import redis
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer

from realtime import pipelined
from realtime.pipelined import pipelined_publisher


@pytest.mark.asyncio
async def test_group_sends_arrive_in_order_in_a_few_reads(pubsub_layer: redis.Redis) -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    for group in ("north", "south"):
        await layer.group_add(group, channel)
    publish = pipelined_publisher(layer)
    assert publish is not None
    await publish([("north", {"type": "warm.up"})])  # the shard's connection is open now
    await layer.receive(channel)

    pairs = [(("north", "south")[n % 2], {"type": "sio.test", "n": n}) for n in range(200)]
    reads = reads_processed(pubsub_layer)
    await publish(pairs)
    pipelined_reads = reads_processed(pubsub_layer) - reads
    assert [(await layer.receive(channel))["n"] for _ in pairs] == list(range(200))

    reads = reads_processed(pubsub_layer)
    for group, message in pairs:  # channels_redis's own group_send: one round trip each
        await layer.group_send(group, message)
    one_by_one_reads = reads_processed(pubsub_layer) - reads
    assert pipelined_reads * 10 < one_by_one_reads, (pipelined_reads, one_by_one_reads)
    assert [(await layer.receive(channel))["n"] for _ in pairs] == list(range(200))


def reads_processed(client: redis.Redis) -> int:
    """How many times redis-server has read from its clients' sockets (this one's INFO
    included): a pipeline arrives in a read or two, commands sent one at a time in one each."""
    return int(client.info("stats")["total_reads_processed"])


@pytest.mark.asyncio
async def test_a_broadcast_to_many_rooms_reaches_each(pubsub_layer: redis.Redis) -> None:
    layer = get_channel_layer()
    channels = [await layer.new_channel() for _ in range(3)]
    for n, channel in enumerate(channels):
        await layer.group_add(f"room-{n}", channel)
    publish = pipelined_publisher(layer)
    assert publish is not None
    message = {"type": "sio.test", "text": "to all"}
    await publish([(f"room-{n}", message) for n in range(3)])
    for channel in channels:
        assert (await asyncio.wait_for(layer.receive(channel), 5))["text"] == "to all"


def test_other_layers_get_no_publisher() -> None:
    assert pipelined_publisher(InMemoryChannelLayer()) is None
    assert pipelined_publisher(RedisChannelLayer()) is None  # core: one group send each
    assert pipelined_publisher(None) is None


def test_runs_keep_the_order_across_shards_and_cut_large_ones() -> None:
    """Consecutive sends to one shard share a pipeline; a send to another shard starts a new
    one, so the whole keeps its order; a pipeline past PIPELINE_BYTES is cut."""
    shards = {"a": object(), "b": object()}
    loop_layer = SimpleNamespace(
        _get_group_channel_name=lambda group: f"chan-{group}",
        _get_shard=lambda channel: shards[channel[-1]],
    )
    serialized: list[Any] = []

    def serialize(message: dict[str, Any]) -> bytes:
        serialized.append(message)
        return message["data"]

    big = {"data": b"x" * pipelined.PIPELINE_BYTES}
    small = {"data": b"s"}
    pairs = [("a", small), ("a", small), ("b", small), ("a", big), ("a", big), ("a", small)]
    runs = pipelined._runs(loop_layer, loop_layer._get_group_channel_name, serialize, pairs)
    assert [(shard, [channel for channel, _ in commands]) for shard, commands in runs] == [
        (shards["a"], ["chan-a", "chan-a"]),
        (shards["b"], ["chan-b"]),
        (shards["a"], ["chan-a"]),
        (shards["a"], ["chan-a"]),
        (shards["a"], ["chan-a"]),
    ]
    assert serialized == [small, big, small]  # the same message in a row: serialized once
