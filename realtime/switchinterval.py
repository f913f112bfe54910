"""The interpreter's switch interval in a server worker: how soon the database thread gets the
GIL back from the event loop.

A worker runs two threads that want the GIL: the event loop, and Django's database thread,
which stores each batch of messages (`realtime.batching`). Each statement releases the GIL
while the database works; when it returns, the thread must wait for the loop to let go, and a
busy loop (a batch's emits run for ~12 ms) lets go only when CPython asks it to, after the
switch interval: 5 ms by default. A batch of messages on PostgreSQL makes about eight round
trips: in the server it took 35 ms against 21 ms alone. Scenario 5 of the bench on
PostgreSQL, interleaved runs: 0.5 ms 1,524 messages/s on average (six runs, 1,239-1,801),
5 ms 1,316 (1,183-1,419); 1 ms between. SQLite runs its statements in the thread without a
round trip: there a shorter interval only added switches (1 ms and 0.5 ms: no gain within
the noise, ~5 % more CPU a message), so it keeps CPython's. A lone thread (fan-out, REST)
never waits for the GIL, so the interval costs it nothing.
"""

from __future__ import annotations

import sys

from django.db import connections

from .conf import realtime_settings

CPYTHON_DEFAULT_S = 0.005
DATABASE_SERVER_INTERVAL_S = 0.0005


def switch_interval() -> float:
    """`REALTIME["SWITCH_INTERVAL_S"]`, else the interval measured best for the database."""
    configured = realtime_settings.SWITCH_INTERVAL_S
    if configured is not None:
        return float(configured)
    if connections["default"].vendor == "sqlite":
        return CPYTHON_DEFAULT_S
    return DATABASE_SERVER_INTERVAL_S


def set_switch_interval() -> None:
    """Set this worker's switch interval (call once, settings loaded)."""
    sys.setswitchinterval(switch_interval())
