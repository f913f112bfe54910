"""A uvicorn server in the test's own event loop, configured as `serve` configures a worker."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from typing import Any

import uvicorn

from realtime import asgiservers


@contextlib.asynccontextmanager
async def serving(app: Any, *, ws: Any = None) -> AsyncIterator[tuple[int, uvicorn.Config]]:
    """(port, config) of uvicorn serving `app` on a free port; `ws`: another WebSocket
    protocol than `serve`'s."""
    listening = socket.create_server(("127.0.0.1", 0))
    config = asgiservers.uvicorn_config(listening.fileno(), app=app)
    if ws is not None:
        config.ws = ws
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[listening]))
    try:
        while not server.started:
            await asyncio.sleep(0.01)
        yield listening.getsockname()[1], config
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        listening.close()
