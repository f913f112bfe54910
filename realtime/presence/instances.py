"""Which server instances are alive now, from their heartbeats (cached for a moment)."""

from __future__ import annotations

import datetime as dt
import time

from channels.db import database_sync_to_async
from django.utils import timezone

from ..conf import realtime_settings
from .selectors import live_instance_ids

_CACHE_S = 2.0
_cache: tuple[float, list[str]] = (0.0, [])


async def live_instances() -> list[str]:
    """Ids of instances whose heartbeat is recent (within half the presence TTL)."""
    global _cache
    fetched_at, ids = _cache
    if time.monotonic() - fetched_at < _CACHE_S:
        return ids
    window = dt.timedelta(seconds=float(realtime_settings.PRESENCE_TTL_S) / 2)
    ids = await database_sync_to_async(live_instance_ids)(since=timezone.now() - window)
    _cache = (time.monotonic(), ids)
    return ids
