"""Conformance handlers with production ping timings, so only the buffer bound can drop a client."""

from config.settings.conformance import *  # noqa: F403
from config.settings.conformance import REALTIME

REALTIME = {
    **REALTIME,
    "PING_INTERVAL_MS": 25_000,
    "PING_TIMEOUT_MS": 20_000,
    "CONNECT_TIMEOUT_MS": 45_000,
    "MAX_BUFFERED_BYTES": 1_000_000,
}
