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
    # the suites need no database: no socket registry or presence
    "REGISTRY": False,
    # the suites never authenticate; a fixed secret lets the server start without DEBUG
    "JWT_SECRET": REALTIME["JWT_SECRET"] or "conformance-jwt-secret-not-for-production-use",
    "MOUNTS": {
        "/socket.io/": "config.conformance.router",
        "/engine.io/": "config.conformance.EchoHandler",
    },
}
