"""Test mode: the base settings with quick timeouts; the e2e fixtures set the rest by env."""

from .base import *  # noqa: F403
from .base import REALTIME

REALTIME = {
    **REALTIME,
    "ACK_TIMEOUT_S": 5.0,
    "GROUP_DISCARD_DELAY_S": 0.2,
    # fixed, so tests mint tokens the server accepts whatever the environment says
    "JWT_SECRET": "test-jwt-secret-for-the-test-suite-only-0123456789",
}
