"""A process's echo to itself, against a real redis-server (realtime.layerlink)."""

from __future__ import annotations

import logging

import pytest
import redis

from realtime.layerlink import LayerLink


@pytest.mark.asyncio
async def test_a_fresh_process_hears_itself_without_a_failure(
    pubsub_layer: redis.Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """On a fresh layer the listener's SUBSCRIBE and the first echo's PUBLISH race on two
    connections. An echo lost that way used to wait out ECHO_TIMEOUT_S and report the layer
    failed (an ERROR at every start, and the process degraded for a probe)."""
    link = LayerLink(groups=lambda: [])
    with caplog.at_level(logging.INFO, logger="realtime.layerlink"):
        assert await link.ready(timeout=5)
        await link.echo()
    assert link.status == "ok"
    assert [r.getMessage() for r in caplog.records if r.name == "realtime.layerlink"] == []


@pytest.mark.asyncio
async def test_an_echo_to_a_channel_nobody_hears_times_out(pubsub_layer: redis.Redis) -> None:
    """The resends stop at the timeout: an echo that never comes back raises."""
    link = LayerLink(groups=lambda: [])
    assert await link.ready(timeout=5)
    link.channel = "nobody-listens-here"  # echoes go where the listener is not
    with pytest.raises(TimeoutError):
        await link.echo(timeout=0.3)
