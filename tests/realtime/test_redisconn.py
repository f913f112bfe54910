"""The channel layer's Redis connections (realtime.redisconn), against a real redis-server: a
command that fits is written without suspending; anything else takes redis-py's timed path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.connection import Connection

from realtime.redisconn import (
    PromptWriteConnection,
    PromptWriteSSLConnection,
    layer_host,
)
from tests.support.servers import RedisServer


def test_the_layer_host_keeps_its_timeouts_and_picks_the_class_by_scheme() -> None:
    host = layer_host("redis://127.0.0.1:6379/0", max_connections=8)
    assert host["socket_timeout"] == 15 and host["max_connections"] == 8
    assert host["connection_class"] is PromptWriteConnection
    assert layer_host("rediss://r:6380", max_connections=8)["connection_class"] is (
        PromptWriteSSLConnection
    )
    assert "connection_class" not in layer_host("unix:///tmp/r.sock", max_connections=8)


@pytest_asyncio.fixture
async def pools(redis_server: RedisServer) -> AsyncIterator[dict[str, ConnectionPool]]:
    made = {
        "prompt": ConnectionPool.from_url(
            redis_server.url, connection_class=PromptWriteConnection, socket_timeout=15
        ),
        "plain": ConnectionPool.from_url(
            redis_server.url, connection_class=Connection, socket_timeout=15
        ),
    }
    yield made
    for pool in made.values():
        await pool.disconnect()


async def written_without_suspending(pool: ConnectionPool, *command: str) -> bool:
    """Send `command` on a connected connection; True if the send never had to suspend."""
    connection = await pool.get_connection()
    try:
        await connection.connect()
        send = connection.send_command(*command)
        try:
            send.send(None)  # one step of the coroutine
        except StopIteration:
            assert await connection.read_response() is not None
            return True
        send.close()
        await connection.disconnect()  # a half-done write: start over
        return False
    finally:
        await pool.release(connection)


@pytest.mark.asyncio
async def test_a_command_that_fits_is_written_in_the_same_turn(pools) -> None:
    assert await written_without_suspending(pools["prompt"], "PING")
    # redis-py's own connection, with a socket_timeout, writes through asyncio.wait_for
    assert not await written_without_suspending(pools["plain"], "PING")


@pytest.mark.asyncio
async def test_a_command_past_the_write_buffer_takes_the_timed_path_and_arrives(pools) -> None:
    client = Redis(connection_pool=pools["prompt"])
    big = "x" * (1 << 20)  # past the transport's high-water mark
    assert await client.set("big", big)
    assert await client.strlen("big") == len(big)
    assert await client.publish("nobody", "small") == 0
    assert await client.delete("big") == 1
