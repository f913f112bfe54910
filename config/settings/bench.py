"""Bench mode: the reference workload of bench/ at /v1/conversation (config.bench), never
deployed. The token is the user id itself, so no JWT is minted or verified per connect."""

from .base import *  # noqa: F403
from .base import LOGGING, REALTIME
from .env import env_str

BENCH_MODE = True

REALTIME = {
    **REALTIME,
    "MOUNTS": {"/socket.io/": "config.bench.router"},
    # scenarios 1-4 measure the adapter: no socket registry or presence writes
    "REGISTRY": False,
    # the bench namespace never verifies a JWT; a fixed secret lets it start without DEBUG
    "JWT_SECRET": REALTIME["JWT_SECRET"] or "bench-jwt-secret-not-for-production-use",
    # the workload's senders go well past the per-socket event rate limits: none here (the
    # check itself still runs), as in the reference servers, which have no limits
    "THROTTLE_SOCKET_RATE": None,
    "THROTTLE_USER_RATE": None,
    # every bench client comes from 127.0.0.1: no per-address cap (the references have none)
    "MAX_CONNECTIONS_PER_IP": 1_000_000,
    # the bench's users are online; an offline push (REST emit to nobody) is only logged
    "PUSH_BACKEND": env_str("PUSH_BACKEND", "log"),
}

# a log line per request or connection would be measured too
LOGGING = {**LOGGING, "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")}}
