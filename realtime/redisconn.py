"""The channel layer's Redis connections: a command is written at once when the socket takes it.

The layer's connections need a `socket_timeout` (redis-py's default of 5 s would end
channels_redis's 5 s blocking pops, see `layer_host`). With one set, redis-py writes
every command through `asyncio.wait_for`, which on Python 3.11 runs the write in a task of its
own: two or three event loop turns per command. The hub's outbox sends its PUBLISHes one after
another, and a connect storm's SUBSCRIBEs queue on the pub/sub shard's lock, so those turns
added up to most of a command's time under load (bench scenario 4).

`PromptWriteConnection` skips the `wait_for` when nothing can wait: the connection is open and
the command fits below the transport's high-water mark, so the write and the drain return in
the same turn. Any other write (a reconnect, a full buffer) goes through redis-py's own timed
path, and reads keep their timeout.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from redis.asyncio.connection import AbstractConnection, Connection, SSLConnection
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError


def layer_host(url: str, *, max_connections: int) -> dict[str, Any]:
    """channels_redis's host entry for `url` (both layer flavours).

    redis-py's default read timeout (5 s) equals channels_redis's blocking-pop timeout, so an
    idle receive would fail every 5 s: allow the pop to finish. `max_connections` bounds this
    process's Redis pool; realtime.layerlink keeps its concurrent layer operations below it
    (LAYER_CONCURRENCY). A command on a pooled connection that Redis dropped (it restarted) is
    tried once more on a new connection instead of failing.
    """
    host: dict[str, Any] = {
        "address": url,
        "socket_timeout": 15,
        "socket_connect_timeout": 5,
        "max_connections": max_connections,
        "retry": Retry(NoBackoff(), 1),
        "retry_on_error": [RedisConnectionError],
    }
    connection_class = prompt_connection_class(url)
    if connection_class is not None:
        host["connection_class"] = connection_class
    return host


def prompt_connection_class(url: str) -> type[AbstractConnection] | None:
    """The connection class for a Redis URL (redis:// or rediss://); None for another scheme
    (a unix socket keeps redis-py's own)."""
    scheme = url.partition("://")[0].lower()
    return {"redis": PromptWriteConnection, "rediss": PromptWriteSSLConnection}.get(scheme)


class PromptWrites(AbstractConnection):
    """Writes a command without `asyncio.wait_for` when it cannot wait (module docstring)."""

    async def send_packed_command(
        self, command: bytes | str | Iterable[bytes], check_health: bool = True
    ) -> None:
        if not self._fits(command):
            return await super().send_packed_command(command, check_health)
        # nothing in this call can wait: without the timeout, redis-py writes and drains
        # directly; no other coroutine runs before the timeout is back
        timeout, self.socket_timeout = self.socket_timeout, None
        try:
            await super().send_packed_command(command, check_health)
        finally:
            self.socket_timeout = timeout

    def _fits(self, command: Any) -> bool:
        """Whether the connection is open and the command fits in its write buffer."""
        writer = self._writer
        if not self.is_connected or writer is None or self.health_check_interval:
            return False
        transport = writer.transport
        if transport.is_closing():
            return False
        if isinstance(command, str | bytes):
            size = len(command)
        elif isinstance(command, list):
            size = sum(len(part) for part in command)
        else:  # an iterator: measuring it would consume it
            return False
        _low, high = transport.get_write_buffer_limits()
        return transport.get_write_buffer_size() + size <= high


class PromptWriteConnection(PromptWrites, Connection):
    pass


class PromptWriteSSLConnection(PromptWrites, SSLConnection):
    pass
