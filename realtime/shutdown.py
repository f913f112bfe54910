"""Graceful shutdown on SIGTERM (contract §9).

`/status` answers 503 at once; new Engine.IO sessions are refused (the client retries and
reaches another server); every socket gets `server_shutdown {reconnect: true}` and a
DISCONNECT, and WebSockets relayed here for other processes' sessions are closed; this instance
withdraws its sockets from the registry (users still connected on another instance stay
online; the others go offline after the grace period, on a survivor); then the ASGI server's
own SIGTERM handling stops the process. A watchdog exits the process if all that takes longer
than SHUTDOWN_TIMEOUT_S. With SHUTDOWN_DRAIN_S, sockets keep being served for that long after
`/status` turned 503, so a load balancer stops sending new ones.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from .conf import realtime_settings
from .engineio import forwarding
from .hub import get_hub
from .ids import PROCESS_ID
from .presence import services as presence_services
from .presence.registry import get_registry
from .tasks import spawn

logger = logging.getLogger(__name__)

SHUTDOWN_EVENT = "server_shutdown"
_state = {"installed": False, "shutting_down": False}


def is_shutting_down() -> bool:
    return _state["shutting_down"]


def install() -> None:
    """Take over SIGTERM on the running loop, keeping the server's own handler to chain to."""
    if _state["installed"] or threading.current_thread() is not threading.main_thread():
        return
    _state["installed"] = True
    previous = signal.getsignal(signal.SIGTERM)
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, _begin, loop, previous)


def _begin(loop: asyncio.AbstractEventLoop, previous: Any) -> None:
    if _state["shutting_down"]:
        return
    _state["shutting_down"] = True
    timeout = float(realtime_settings.SHUTDOWN_TIMEOUT_S)
    watchdog = threading.Timer(timeout, os._exit, args=(0,))
    watchdog.daemon = True
    watchdog.start()
    logger.info("SIGTERM: shutting down gracefully (at most %.0f s)", timeout)
    spawn(_shutdown(loop, previous, timeout))


async def _shutdown(loop: asyncio.AbstractEventLoop, previous: Any, timeout: float) -> None:
    try:
        await asyncio.wait_for(_leave(), max(timeout - 1.0, 0.5))
    except Exception:
        logger.exception("graceful shutdown did not finish cleanly")
    loop.remove_signal_handler(signal.SIGTERM)
    signal.signal(signal.SIGTERM, previous if callable(previous) else signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)  # now the server stops the way it always does


async def _leave() -> None:
    drain = float(realtime_settings.SHUTDOWN_DRAIN_S)
    if drain > 0:  # `/status` already answers 503: give load balancers time to notice
        await asyncio.sleep(drain)
    hub = get_hub()
    for server in hub.engines.values():  # from now on a new session would never be told
        server.closed = True
    forwarding.refuse_new_relays()
    sockets = list(hub.sockets.values())
    for socket in sockets:
        await socket.emit(SHUTDOWN_EVENT, {"reconnect": True})
        await socket.disconnect()
    for server in hub.engines.values():
        for session in list(server.sessions.values()):
            session.close("server shutting down")
    await hub.outbox.drained()  # broadcasts emitted before now still reach other processes
    registry = get_registry()
    if registry.enabled:
        await registry.flush()
        await database_sync_to_async(presence_services.instance_withdraw)(
            instance_id=PROCESS_ID, now=timezone.now()
        )
    await asyncio.sleep(0.2)  # let the transports write the last frames
    # last, so what other processes send their sockets now (a sibling worker's
    # `server_shutdown`, say) still passes: stop serving their sessions, losing nothing
    await forwarding.close_edge()
    logger.info("shutdown: %d sockets told and disconnected", len(sockets))
