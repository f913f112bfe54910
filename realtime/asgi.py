"""The ASGI entry: Engine.IO servers at their mount paths, everything else to Django."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string

from . import shutdown
from .conf import realtime_settings
from .engineio import forwarding
from .engineio.polling import handle_polling
from .engineio.server import EngineServer, HandlerFactory
from .engineio.session import Session
from .engineio.websocket import handle_websocket
from .hub import get_hub
from .proxy import ProxyHeadersMiddleware
from .routing import NamespaceRouter
from .socketio.connection import SocketIOConnection

ASGIApp = Any
LAYER_READY_TIMEOUT_S = 2.0  # a layer not up by then: serve anyway, degraded


def engine_server_for(target: NamespaceRouter | HandlerFactory, mount: str) -> EngineServer:
    """A Socket.IO server for a namespace router, or a bare Engine.IO one for a handler factory;
    registered with the hub so other processes can forward requests of its sessions."""
    if isinstance(target, NamespaceRouter):

        def socketio_handler(session: Session) -> SocketIOConnection:
            return SocketIOConnection(session, target)

        server = EngineServer(socketio_handler, mount)
    else:
        server = EngineServer(target, mount)
    get_hub().engines[mount] = server
    return server


class MountRouter:
    """Sends HTTP and WebSocket requests under a mount path to its Engine.IO server, other
    HTTP requests to `fallback` (Django), and refuses other WebSockets.

    It dispatches on the scope type itself (no ProtocolTypeRouter in front): every level of
    ASGI application is a coroutine that each resumption of a connection passes through."""

    def __init__(self, mounts: dict[str, EngineServer], fallback: ASGIApp) -> None:
        self.mounts = [(path.rstrip("/"), server) for path, server in mounts.items()]
        self.fallback = fallback

    def server_for(self, path: str) -> EngineServer | None:
        for prefix, server in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                return server
        return None

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        hub = get_hub()
        hub.bind_loop()
        if not hub.link.is_ready:  # once: other processes may be told our sessions' ids
            await hub.link.ready(LAYER_READY_TIMEOUT_S)
        shutdown.install()
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            raise ValueError(f"no application for ASGI scope type {kind!r}")
        server = self.server_for(scope["path"])
        if server is not None and kind == "http":
            await handle_polling(server, scope, receive, send)
        elif server is not None:
            await handle_websocket(server, scope, receive, send)
        elif kind == "http":
            await self.fallback(scope, receive, send)
        else:
            await receive()
            await send({"type": "websocket.close", "code": 1008})


def build_application(django_app: ASGIApp) -> ASGIApp:
    """The project's ASGI application: the mounts of `REALTIME["MOUNTS"]`, then Django."""
    mounts = {
        path: engine_server_for(import_string(target), path)
        for path, target in realtime_settings.MOUNTS.items()
    }
    forwarding.install()
    # the client address every layer below sees
    return ProxyHeadersMiddleware(MountRouter(mounts, django_app))
