"""A burst of room joins queues behind LAYER_CONCURRENCY instead of exhausting the Redis pool:
every room stays reachable from the other process (no lost cross-process deliveries)."""

from __future__ import annotations

import asyncio

import pytest

from tests.support.clients import RawWebSocket

NS = "/test"
SOCKETS = 300
SETTINGS = "tests.support.settings_adapter"


@pytest.mark.redis
async def test_join_storm_keeps_every_room_reachable(server_factory, redis_server) -> None:
    # a pool far smaller than the burst: without the bound the joins fail with
    # MaxConnectionsError and those rooms never hear the other process
    env = {"REDIS_URL": redis_server.url, "REDIS_MAX_CONNECTIONS": "24", "LAYER_CONCURRENCY": "16"}
    receiver = server_factory(SETTINGS, MAX_CONNECTIONS_PER_IP="5000", **env)
    sender = server_factory(SETTINGS, **env)

    clients = [await RawWebSocket.open(receiver.url) for _ in range(SOCKETS)]
    try:
        await asyncio.gather(*(client.connect(NS) for client in clients))
        # every socket joins its own room, all at once
        joined = await asyncio.gather(
            *(client.call(NS, 1, "join", f"storm-{n}") for n, client in enumerate(clients))
        )
        assert all(f"storm-{n}" in rooms[0] for n, rooms in enumerate(joined))

        status = await asyncio.to_thread(_status, receiver.url)
        assert status["status"] == "ok", status  # no layer failure during the burst

        emitter = await RawWebSocket.open(sender.url)
        await emitter.connect(NS)
        rooms = [f"storm-{n}" for n in range(SOCKETS)]
        ack = await emitter.call(NS, 1, "broadcast", {"data": "hello", "to": rooms})
        assert ack == [{"local": 0}]  # nobody on the sender's process
        news = await asyncio.gather(*(client.recv() for client in clients))
        assert all(frame == '42/test,["news","hello"]' for frame in news), set(news)
        await emitter.close()
    finally:
        await asyncio.gather(*(client.close() for client in clients), return_exceptions=True)


def _status(url: str) -> dict:
    import json
    import urllib.request

    with urllib.request.urlopen(url + "/status", timeout=5) as response:
        return json.loads(response.read())
