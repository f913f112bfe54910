"""Conformance mode: what the official Socket.IO and Engine.IO suites expect to find."""

from .base import *  # noqa: F403
from .base import REALTIME

REALTIME = {
    **REALTIME,
    "PING_INTERVAL_MS": 300,
    "PING_TIMEOUT_MS": 200,
    "MAX_PAYLOAD": 1_000_000,
    "CONNECT_TIMEOUT_MS": 1_000,
    "CORS_ALLOWED_ORIGINS": ["*"],
    "MOUNTS": {
        "/socket.io/": "config.conformance.router",
        "/engine.io/": "config.conformance.EchoHandler",
    },
}
