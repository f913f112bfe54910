"""The per-process gauges a leak would show in: asyncio tasks and channel-layer groups, on
/metrics, sampled every second; both come back to where they were once clients are gone."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ADAPTER_SETTINGS
from tests.support.clients import RecordingClient

pytestmark = pytest.mark.redis

TEST = "/test"


async def gauges(url: str) -> dict[str, float]:
    async with httpx.AsyncClient() as http:
        text = (await http.get(url + "/metrics")).text
    wanted = {"process_asyncio_tasks", "channel_layer_groups"}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name in wanted
    }


async def settled(url: str, target: dict[str, float], timeout: float = 10.0) -> dict[str, float]:
    """The gauges once they are back at `target` (or whatever they are after `timeout`)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        now = await gauges(url)
        if now == target or loop.time() > deadline:
            return now
        await asyncio.sleep(0.5)


async def test_tasks_and_groups_come_back_after_clients_leave(redis_server, server_factory):
    server = server_factory(ADAPTER_SETTINGS, REDIS_URL=redis_server.url)
    # warm up: the first socket starts the registry's long-lived heartbeat task
    first = await RecordingClient(server.url, ["websocket"], [TEST]).connect()
    await first.call(TEST, "join", "gauge-warm-up")
    await first.close()
    await asyncio.sleep(3.0)  # the group left (after GROUP_DISCARD_DELAY_S) and sampled
    before = await gauges(server.url)
    assert before["process_asyncio_tasks"] >= 1
    clients = [
        await RecordingClient(server.url, ["websocket"], [TEST]).connect() for _ in range(10)
    ]
    for n, client in enumerate(clients):
        await client.call(TEST, "join", f"gauge-room-{n}")
    await asyncio.sleep(1.5)
    during = await gauges(server.url)
    assert during["channel_layer_groups"] >= before["channel_layer_groups"] + 10
    assert during["process_asyncio_tasks"] > before["process_asyncio_tasks"]
    for client in clients:
        await client.close()
    assert await settled(server.url, before) == before
