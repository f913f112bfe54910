"""Many group sends in one Redis round trip, on channels_redis's pub/sub layer.

A group send on that layer is one PUBLISH, written and answered before the next goes (its
shard's lock). The hub's outbox sent its broadcasts that way, one round trip after another:
under load each answer comes back a loop turn or two later, so a process published a few
hundred broadcasts a second and the rest waited in the outbox (bench scenario 4: cross-process
p50 46-66 ms). `pipelined_publisher` sends what is queued as one pipeline per shard instead:
one write, the answers read together, in the order given (one connection per shard).

It reaches into channels_redis 4.x (the per-loop layer, its shards and their connections);
`pipelined_publisher` returns None where those are not as expected (another layer, another
version), and the caller sends one group at a time as before.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from channels_redis import pubsub

Pairs = list[tuple[str, dict[str, Any]]]  # (group, message), in the order to send them
# sends pairs; returns how many processes each reached (PUBLISH's answer), None if unknown
Publisher = Callable[[Pairs], Awaitable[list[int] | None]]

PIPELINE_BYTES = 1 << 20  # a pipeline is cut after this many bytes of messages


def pipelined_publisher(layer: Any, *, groups: bool = True) -> Publisher | None:
    """A function that PUBLISHes each (group, message) through `layer`'s own shards, in
    pipelines (each (channel, message) without `groups`); None unless `layer` is
    channels_redis's pub/sub layer as this was written for."""
    if not isinstance(layer, pubsub.RedisPubSubChannelLayer) or not _internals_known():
        return None

    async def publish(pairs: Pairs) -> list[int]:
        receivers: list[int] = []
        loop_layer = layer._get_layer()
        name = loop_layer._get_group_channel_name if groups else str
        for shard, commands in _runs(loop_layer, name, layer.serialize, pairs):
            receivers.extend(await _execute(shard, commands))
        return receivers

    return publish


def _internals_known() -> bool:
    loop_layer, shard = pubsub.RedisPubSubLoopLayer, pubsub.RedisSingleShardConnection
    return (
        all(hasattr(loop_layer, name) for name in ("_get_group_channel_name", "_get_shard"))
        and hasattr(shard, "_ensure_redis")
        and hasattr(pubsub.RedisPubSubChannelLayer, "_get_layer")
    )


def _runs(
    loop_layer: Any, name: Callable[[str], str], serialize: Callable[[Any], bytes], pairs: Pairs
) -> list[Any]:
    """[(shard, [(channel, bytes)...])...]: consecutive sends to one shard together (up to
    PIPELINE_BYTES), so the whole keeps its order even across shards. `name` gives the Redis
    channel of a group (or of a channel)."""
    runs: list[Any] = []
    size = 0
    last: tuple[Any, bytes] = (None, b"")  # a broadcast to many rooms: serialized once
    for group, message in pairs:
        channel = name(group)
        shard = loop_layer._get_shard(channel)
        if last[0] is not message:
            last = (message, serialize(message))
        data = last[1]
        if not runs or runs[-1][0] is not shard or size >= PIPELINE_BYTES:
            runs.append((shard, []))
            size = 0
        runs[-1][1].append((channel, data))
        size += len(data)
    return runs


async def _execute(shard: Any, commands: list[tuple[str, bytes]]) -> list[int]:
    """The PUBLISHes on the shard's connection, under its lock as channels_redis's own; how
    many subscribers (processes) each reached."""
    async with shard._lock:
        shard._ensure_redis()
        pipeline = shard._redis.pipeline(transaction=False)
        for channel, data in commands:
            pipeline.publish(channel, data)
        return [int(receivers) for receivers in await pipeline.execute()]
