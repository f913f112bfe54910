"""Fixtures of the realtime tests that talk to a real redis-server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from django.test import override_settings

from realtime.redisconn import layer_host
from tests.support.servers import RedisServer

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"


@pytest.fixture
def pubsub_layer(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """The pub/sub channel layer on the test redis-server, configured as the settings make it;
    yields a plain client of that server, to look at what the layer did there."""
    host = layer_host(redis_server.url, max_connections=16)
    layers = {"default": {"BACKEND": PUBSUB, "CONFIG": {"hosts": [host]}}}
    with override_settings(CHANNEL_LAYERS=layers):
        client = redis.Redis.from_url(redis_server.url)
        yield client
        client.close()
