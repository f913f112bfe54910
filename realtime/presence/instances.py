"""Which server instances are alive now, from their heartbeats (cached for a moment), and which
channel layer this one is on."""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import time
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.utils import timezone

from ..conf import realtime_settings
from ..ids import PROCESS_ID
from .selectors import live_instance_ids

_CACHE_S = 2.0
_cache: tuple[float, list[str]] = (0.0, [])


@functools.cache
def layer_fingerprint() -> str:
    """Names this process's channel layer: the same for every process that can hear this one
    (backend, hosts, prefix), so another deployment's instances writing to the same database
    are not asked for counts they cannot hear. An in-memory layer is the process's own."""
    config: dict[str, Any] = settings.CHANNEL_LAYERS.get("default", {})
    backend = str(config.get("BACKEND", ""))
    if backend.endswith("InMemoryChannelLayer"):
        return f"memory:{PROCESS_ID}"
    options: dict[str, Any] = config.get("CONFIG", {})
    hosts = [_address(host) for host in options.get("hosts") or []]
    named = {"backend": backend, "hosts": hosts, "prefix": options.get("prefix")}
    digest = hashlib.sha256(json.dumps(named, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def _address(host: Any) -> Any:
    """Where a channels_redis host entry points (its other options, e.g. a pool's retry
    object, may differ between processes on the same Redis)."""
    if isinstance(host, dict):
        return host.get("address") or [host.get("host"), host.get("port"), host.get("db")]
    return host


async def live_instances() -> list[str]:
    """Ids of the instances on this layer whose heartbeat is recent (within half the presence
    TTL)."""
    global _cache
    fetched_at, ids = _cache
    if time.monotonic() - fetched_at < _CACHE_S:
        return ids
    window = dt.timedelta(seconds=float(realtime_settings.PRESENCE_TTL_S) / 2)
    ids = await database_sync_to_async(live_instance_ids)(
        since=timezone.now() - window, layer=layer_fingerprint()
    )
    _cache = (time.monotonic(), ids)
    return ids
