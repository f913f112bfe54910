"""Rate limits on client events, in the spirit of DRF throttles: small policy classes that a
consumer lists in `throttle_classes`, with rates like "100/s" from settings.

Buckets are token buckets: a rate of N per period allows bursts of N and refills steadily.
The per-user bucket is shared by the user's sockets on this process (several processes each
keep their own).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from .conf import realtime_settings

if TYPE_CHECKING:
    from .namespace import NamespaceConsumer

_PERIODS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0, "hour": 3600.0}


def parse_rate(rate: str | None) -> tuple[float, float] | None:
    """`"100/s"` -> (100 tokens, 100 per second); None or "" means no limit."""
    if not rate:
        return None
    count, _, period = rate.partition("/")
    try:
        return float(count), float(count) / _PERIODS[period.strip().lower()]
    except (ValueError, KeyError):
        raise ValueError(f"bad rate {rate!r}: expected like '100/s', '600/m'") from None


class TokenBucket:
    __slots__ = ("capacity", "refill", "tokens", "updated")

    def __init__(self, capacity: float, refill_per_s: float) -> None:
        self.capacity = capacity
        self.refill = refill_per_s
        self.tokens = capacity
        self.updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.refill)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class BaseThrottle:
    """`allow(socket)` is asked before each client event is queued."""

    setting: ClassVar[str] = ""

    def rate(self) -> tuple[float, float] | None:
        return parse_rate(getattr(realtime_settings, self.setting))

    def allow(self, socket: NamespaceConsumer) -> bool:
        raise NotImplementedError


class SocketRateThrottle(BaseThrottle):
    """Events per socket (THROTTLE_SOCKET_RATE)."""

    setting = "THROTTLE_SOCKET_RATE"

    def __init__(self) -> None:
        rate = self.rate()
        self.bucket = TokenBucket(*rate) if rate else None

    def allow(self, socket: NamespaceConsumer) -> bool:
        return self.bucket is None or self.bucket.take()


class UserRateThrottle(BaseThrottle):
    """Events per user across the user's sockets on this process (THROTTLE_USER_RATE)."""

    setting = "THROTTLE_USER_RATE"
    _buckets: ClassVar[dict[str, TokenBucket]] = {}

    def allow(self, socket: NamespaceConsumer) -> bool:
        if socket.identity is None:
            return True
        rate = self.rate()
        if rate is None:
            return True
        bucket = self._buckets.get(socket.identity.uid)
        if bucket is None:
            if len(self._buckets) > 100_000:  # idle users' buckets are full: dropping is free
                self._buckets.clear()
            bucket = self._buckets[socket.identity.uid] = TokenBucket(*rate)
        return bucket.take()


class AbuseCounter:
    """Throttled events in a sliding window; past THROTTLE_DISCONNECT_AFTER, disconnect."""

    __slots__ = ("denied", "window_start")

    WINDOW_S = 10.0

    def __init__(self) -> None:
        self.denied = 0
        self.window_start = time.monotonic()

    def record(self) -> bool:
        """Count one throttled event; True when the client should be disconnected."""
        now = time.monotonic()
        if now - self.window_start > self.WINDOW_S:
            self.denied, self.window_start = 0, now
        self.denied += 1
        return self.denied > int(realtime_settings.THROTTLE_DISCONNECT_AFTER)
