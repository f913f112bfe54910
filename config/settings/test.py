"""Test mode: the base settings with quick timeouts; the e2e fixtures set the rest by env."""

from .base import *  # noqa: F403
from .base import REALTIME
from .env import env_str

REALTIME = {
    **REALTIME,
    "ACK_TIMEOUT_S": 5.0,
    "GROUP_DISCARD_DELAY_S": 0.2,
    # fixed, so tests mint tokens the server accepts whatever the environment says
    "JWT_SECRET": "test-jwt-secret-for-the-test-suite-only-0123456789",
    # tests send in bulk; the throttling tests start their servers with tight rates
    "THROTTLE_SOCKET_RATE": env_str("THROTTLE_SOCKET_RATE", "10000/s"),
    "THROTTLE_USER_RATE": env_str("THROTTLE_USER_RATE", "10000/s"),
}
