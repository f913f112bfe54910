"""The channel layer failing under two running processes: redis-server stopped and started again
on the same port (local delivery goes on, `/status` says degraded, then cross-process delivery
resumes without a restart), and a channel too small for a burst (every drop logged and counted)."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from tests.support.clients import RecordingClient
from tests.support.serve import http_get, label_sets, metric, parse_metrics
from tests.support.servers import RedisServer, ServerProcess

pytestmark = pytest.mark.redis

ADAPTER = "tests.support.settings_adapter"
TEST = "/test"


@pytest.fixture
def own_redis() -> Iterator[RedisServer]:
    """A redis-server of this test's own: it is stopped and started again."""
    redis = RedisServer().start()
    yield redis
    redis.stop()


@pytest.fixture
async def clients() -> AsyncIterator[Callable[..., Any]]:
    made: list[RecordingClient] = []

    async def connect(server: ServerProcess) -> RecordingClient:
        client = RecordingClient(server.url, ["websocket"], [TEST])
        made.append(client)
        return await client.connect()

    yield connect
    for client in made:
        await client.close()


async def layer_status(server: ServerProcess) -> str | None:
    status, body = await asyncio.to_thread(http_get, server.url + "/status")
    assert status == 200, (status, body)  # degraded or not, the process answers
    return body.get("status")


async def wait_status(server: ServerProcess, wanted: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while (status := await layer_status(server)) != wanted:
        assert time.monotonic() < deadline, f"/status stayed {status!r}, not {wanted!r}"
        await asyncio.sleep(0.1)


def samples(server: ServerProcess) -> dict:
    status, text = http_get(server.url + "/metrics", 5.0)
    assert status == 200, text
    return parse_metrics(text)


async def said(client: RecordingClient, data: int) -> None:
    [payload] = await client.next(TEST, "said")
    assert payload["data"] == data, payload


async def test_a_redis_outage_degrades_then_recovers_without_a_restart(
    own_redis: RedisServer, server_factory, clients
) -> None:
    env = {"REDIS_URL": own_redis.url}
    first, second = server_factory(ADAPTER, **env), server_factory(ADAPTER, **env)
    room = f"room-{uuid.uuid4().hex[:8]}"
    ana, amy, bob = await clients(first), await clients(first), await clients(second)
    for client in (ana, amy, bob):
        await client.call(TEST, "join", room)
    await ana.call(TEST, "say", {"to": room, "data": 1})
    for client in (ana, amy, bob):
        await said(client, 1)
    assert await layer_status(first) == "ok" and await layer_status(second) == "ok"

    own_redis.stop()
    await wait_status(first, "degraded")
    await wait_status(second, "degraded")
    # each process goes on serving its own sockets, old and new
    assert await ana.call(TEST, "say", {"to": room, "data": 2}) == "ok"
    await said(ana, 2)
    await said(amy, 2)
    cleo = await clients(first)
    assert await cleo.call(TEST, "join", room) == [room]
    await bob.call(TEST, "say", {"to": room, "data": 3})
    await said(bob, 3)
    assert first.alive and second.alive
    errors = samples(first)
    assert metric(errors, "channel_layer_errors_total") > 0
    failed = {labels["operation"] for labels in label_sets(errors, "channel_layer_errors_total")}
    assert failed & {"receive", "echo"}, failed  # noticed by the listener or the health echo

    own_redis.start()  # the same port: the processes reconnect by themselves
    await wait_status(first, "ok")
    await wait_status(second, "ok")
    # across processes again (the groups were joined anew in the restarted redis), and
    # what was said during the outage arrives now, once (the processes held it)
    await ana.call(TEST, "say", {"to": room, "data": 4})
    await bob.call(TEST, "say", {"to": room, "data": 5})
    for client in (ana, amy, cleo):
        assert await said_all(client, {3, 4, 5}) == {3, 4, 5}
    assert await said_all(bob, {2, 4, 5}) == {2, 4, 5}
    assert first.alive and second.alive


async def said_all(client: RecordingClient, wanted: set[int], timeout: float = 10.0) -> set[int]:
    """The data of every `said` until all of `wanted` came; fails on anything twice, and on
    anything more that is already there."""
    seen: list[int] = []
    deadline = time.monotonic() + timeout
    while not wanted <= set(seen):
        left = deadline - time.monotonic()
        assert left > 0, f"only {seen} of {wanted}"
        [payload] = await client.next(TEST, "said", timeout=left)
        seen.append(payload["data"])
    seen += [payload["data"] for [payload] in client.received(TEST, "said")]
    assert len(seen) == len(set(seen)), seen
    return set(seen)


async def test_a_full_channel_is_logged_and_counted_never_silent(
    redis_server: RedisServer, server_factory, clients
) -> None:
    """A receiving process's channel holds two messages; paused (SIGSTOP) while four sockets
    of the other process send it a burst, it overflows. LOG_LEVEL=WARNING: still an ERROR
    line. (Paused, because the sender's outbox sends one broadcast at a time, which a running
    receiver may keep up with.)"""
    env = {
        "REDIS_URL": redis_server.url,
        "REDIS_LAYER": "core",
        "CHANNEL_CAPACITY": "2",
        "LOG_LEVEL": "WARNING",
    }
    sender, receiver = server_factory(ADAPTER, **env), server_factory(ADAPTER, **env)
    room = f"room-{uuid.uuid4().hex[:8]}"
    listener = await clients(receiver)
    await listener.call(TEST, "join", room)
    flooders = [await clients(sender) for _ in range(4)]
    before = metric(samples(sender), "channel_layer_drops_total", operation="group_send")

    async def flood(client: RecordingClient, base: int) -> None:
        for n in range(25):
            await client.emit(TEST, "broadcast", {"to": room, "data": base + n})
        await client.call(TEST, "echo", "done")  # every broadcast of this socket was handled

    receiver.signal(signal.SIGSTOP)  # it reads nothing meanwhile: its channel fills up
    try:
        await asyncio.gather(*(flood(client, 1000 * k) for k, client in enumerate(flooders)))
        # handled, and queued for the layer (realtime.outbox): counted as the outbox sends
        for _ in range(100):
            drops = metric(samples(sender), "channel_layer_drops_total", operation="group_send")
            if drops > before:
                break
            await asyncio.sleep(0.1)
        assert drops > before
    finally:
        receiver.signal(signal.SIGCONT)
    lines = [line for line in sender.log().splitlines() if "over capacity" in line]
    assert lines and all(" ERROR channels_redis.core " in line for line in lines), lines
    await listener.next(TEST, "news")  # what fitted was delivered
    assert receiver.alive and sender.alive
