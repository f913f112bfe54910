"""Which instances a counted emit asks: the live ones on this process's channel layer
(realtime.presence.instances, realtime.presence.selectors.live_instance_ids)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import override_settings
from django.utils import timezone

from realtime.ids import PROCESS_ID
from realtime.presence import services
from realtime.presence.instances import layer_fingerprint
from realtime.presence.selectors import live_instance_ids

PUBSUB = "channels_redis.pubsub.RedisPubSubChannelLayer"
MEMORY = "channels.layers.InMemoryChannelLayer"


def fingerprint(backend: str, **config: object) -> str:
    layers = {"default": {"BACKEND": backend, "CONFIG": config}}
    layer_fingerprint.cache_clear()
    try:
        with override_settings(CHANNEL_LAYERS=layers):
            return layer_fingerprint()
    finally:
        layer_fingerprint.cache_clear()


def test_processes_on_one_redis_share_a_fingerprint_and_others_do_not() -> None:
    one = fingerprint(PUBSUB, hosts=["redis://r1:6379/0"])
    assert one == fingerprint(PUBSUB, hosts=["redis://r1:6379/0"], capacity=5)
    assert one != fingerprint(PUBSUB, hosts=["redis://r2:6379/0"])
    assert one != fingerprint(PUBSUB, hosts=["redis://r1:6379/0"], prefix="staging")
    assert one != fingerprint("channels_redis.core.RedisChannelLayer", hosts=["redis://r1:6379/0"])
    assert len(one) <= 32
    # a host given with its connection options: only where it points counts
    entry = {"address": "redis://r1:6379/0", "retry": object(), "max_connections": 8}
    assert one == fingerprint(PUBSUB, hosts=[entry])


def test_an_in_memory_layer_is_the_process_own() -> None:
    assert fingerprint(MEMORY) == f"memory:{PROCESS_ID}"


@pytest.mark.django_db
def test_live_instances_are_those_on_the_layer_that_beat_recently() -> None:
    now = timezone.now()
    beats = {"mine": ("L", now), "other-layer": ("M", now), "old": ("L", now - dt.timedelta(60))}
    for instance, (layer, seen) in beats.items():
        services.instance_heartbeat(
            instance_id=instance, hostname="h", pid=1, started_at=seen, now=seen, layer=layer
        )
    since = now - dt.timedelta(seconds=30)
    assert live_instance_ids(since=since, layer="L") == ["mine"]
    assert sorted(live_instance_ids(since=since)) == ["mine", "other-layer"]
