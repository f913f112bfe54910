"""The ASGI entry: Engine.IO servers at their mount paths, everything else to Django."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.utils.module_loading import import_string

from . import shutdown
from .conf import realtime_settings
from .directhttp import DirectAnswer, DirectRoute
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
        self.prepared_hub: Any = None  # the hub `prepare` has readied (asked every request)

    def server_for(self, path: str) -> EngineServer | None:
        for prefix, server in self.mounts:
            if path == prefix or path.startswith(prefix + "/"):
                return server
        return None

    async def prepare(self) -> None:
        """What serving any request needs: the hub on this loop, the layer up (or given up
        on), the shutdown handler installed."""
        hub = get_hub()
        if hub is self.prepared_hub:
            return
        hub.bind_loop()
        if not hub.link.is_ready:  # once: other processes may be told our sessions' ids
            await hub.link.ready(LAYER_READY_TIMEOUT_S)
        shutdown.install()
        if hub.link.is_ready:  # a layer given up on is waited for again by the next request
            self.prepared_hub = hub

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        await self.prepare()
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


class Application(ProxyHeadersMiddleware):
    """The project's ASGI application: the client address as a trusted proxy gives it, then
    the MountRouter. It also offers its direct routes (realtime.directhttp) to the uvicorn
    workers' HTTP protocol, with what the application would have done first."""

    def __init__(self, router: MountRouter, direct_routes: Sequence[DirectRoute] = ()) -> None:
        super().__init__(router)
        self.router = router
        self.direct_routes = tuple(direct_routes)

    def direct(self, scope: dict[str, Any]) -> tuple[DirectRoute, object] | None:
        """(route, ticket) of the direct route that answers this HTTP request, if any."""
        if not self.direct_routes or self.router.server_for(scope["path"]) is not None:
            return None
        scope = self.forwarded(scope)
        for route in self.direct_routes:
            ticket = route.take(scope)
            if ticket is not None:
                return route, ticket
        return None

    async def answer_direct(
        self, route: DirectRoute, ticket: object, body: bytes
    ) -> DirectAnswer | None:
        await self.router.prepare()
        return await route.answer(ticket, body)


def build_application(django_app: ASGIApp, direct_routes: Sequence[DirectRoute] = ()) -> ASGIApp:
    """The project's ASGI application: the mounts of `REALTIME["MOUNTS"]`, then Django;
    `direct_routes` may answer HTTP requests outside the mounts without the ASGI cycle."""
    mounts = {
        path: engine_server_for(import_string(target), path)
        for path, target in realtime_settings.MOUNTS.items()
    }
    forwarding.install()
    return Application(MountRouter(mounts, django_app), direct_routes)
