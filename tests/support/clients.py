"""Clients for end-to-end tests: python-socketio that records what it gets, and hand-driven
Engine.IO v4 over a raw WebSocket or long-polling for exact frames."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import socketio
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

TIMEOUT = 5.0

# the three ways a python-socketio client can reach the server
TRANSPORTS = {
    "websocket": ["websocket"],
    "polling-upgrade": ["polling", "websocket"],
    "polling": ["polling"],
}


class RecordingClient:
    """A python-socketio AsyncClient that queues every event it receives, per namespace.

    `answers[event]` (an async function) answers server events sent with an ack.
    """

    def __init__(self, url: str, transports: list[str], namespaces: list[str]) -> None:
        self.url = url
        self.transports = transports
        self.namespaces = namespaces
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: dict[tuple[str, str], asyncio.Queue[list[Any]]] = defaultdict(asyncio.Queue)
        self.disconnects: dict[str, asyncio.Queue[str]] = defaultdict(asyncio.Queue)
        self.connect_errors: dict[str, asyncio.Queue[Any]] = defaultdict(asyncio.Queue)
        self.answers: dict[str, Callable[..., Awaitable[Any]]] = {}
        for namespace in namespaces:
            self._listen(namespace)

    def _listen(self, namespace: str) -> None:
        async def on_any(event: str, *args: Any) -> Any:
            self.events[(namespace, event)].put_nowait(list(args))
            answer = self.answers.get(event)
            return None if answer is None else await answer(*args)

        async def on_disconnect(reason: str) -> None:
            self.disconnects[namespace].put_nowait(reason)

        async def on_connect_error(data: Any) -> None:
            self.connect_errors[namespace].put_nowait(data)

        self.sio.on("*", on_any, namespace=namespace)
        self.sio.on("disconnect", on_disconnect, namespace=namespace)
        self.sio.on("connect_error", on_connect_error, namespace=namespace)

    async def connect(self, auth: dict[str, Any] | None = None) -> RecordingClient:
        await self.sio.connect(
            self.url,
            auth=auth,
            transports=self.transports,
            namespaces=self.namespaces,
            wait_timeout=TIMEOUT,
        )
        return self

    def sid(self, namespace: str) -> str:
        sid = self.sio.get_sid(namespace)
        assert sid is not None, f"not connected to {namespace}"
        return sid

    async def call(self, namespace: str, event: str, *args: Any) -> Any:
        """Emit with an ack and return the ack's value (a tuple for several arguments)."""
        return await self.sio.call(event, tuple(args), namespace=namespace, timeout=TIMEOUT)

    async def emit(self, namespace: str, event: str, *args: Any) -> None:
        await self.sio.emit(event, tuple(args), namespace=namespace)

    async def next(self, namespace: str, event: str, timeout: float = TIMEOUT) -> list[Any]:
        """The arguments of the next `event` received on `namespace`."""
        return await asyncio.wait_for(self.events[(namespace, event)].get(), timeout)

    def received(self, namespace: str, event: str) -> list[list[Any]]:
        """Every `event` received so far and not yet taken."""
        queue = self.events[(namespace, event)]
        return [queue.get_nowait() for _ in range(queue.qsize())]

    async def next_disconnect(self, namespace: str, timeout: float = TIMEOUT) -> str:
        return await asyncio.wait_for(self.disconnects[namespace].get(), timeout)

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.shutdown()


def websocket_url(base_url: str, query: str = "") -> str:
    url = base_url.replace("http://", "ws://", 1) + "/socket.io/?EIO=4&transport=websocket"
    return url + ("&" + query if query else "")


class RawWebSocket:
    """Engine.IO v4 over a WebSocket, frame by frame; pings are answered on the way."""

    def __init__(self, ws: ClientConnection, handshake: dict[str, Any]) -> None:
        self.ws = ws
        self.handshake = handshake

    @classmethod
    async def open(cls, base_url: str) -> RawWebSocket:
        ws = await connect(websocket_url(base_url), max_size=None, compression=None)
        first = await asyncio.wait_for(ws.recv(), TIMEOUT)
        assert isinstance(first, str) and first.startswith("0"), first
        return cls(ws, json.loads(first[1:]))

    async def send(self, frame: str | bytes) -> None:
        await self.ws.send(frame)

    async def recv(self, timeout: float = TIMEOUT) -> str | bytes:
        while True:
            frame = await asyncio.wait_for(self.ws.recv(), timeout)
            if frame != "2":
                return frame
            await self.ws.send("3")

    async def connect(self, namespace: str, auth: dict[str, Any] | None = None) -> str:
        """CONNECT to a test namespace; returns the sid (the `welcome` event is read too)."""
        await self.send(f"40{namespace}," + (json.dumps(auth) if auth else ""))
        frame = await self.recv()
        prefix = f"40{namespace},"
        assert isinstance(frame, str) and frame.startswith(prefix), frame
        sid = json.loads(frame[len(prefix) :])["sid"]
        welcome = await self.recv()
        assert isinstance(welcome, str) and welcome.startswith(f'42{namespace},["welcome",')
        return sid

    async def call(self, namespace: str, ack_id: int, event: str, *args: Any) -> list[Any]:
        """An event with an ack, by hand; returns the ACK's arguments."""
        await self.send(f"42{namespace},{ack_id}" + json.dumps([event, *args]))
        frame = await self.recv()
        prefix = f"43{namespace},{ack_id}"
        assert isinstance(frame, str) and frame.startswith(prefix), frame
        return json.loads(frame[len(prefix) :])

    async def wait_closed(self, timeout: float = TIMEOUT) -> list[str | bytes]:
        """Read until the server closes the socket; returns what came before the close."""
        frames: list[str | bytes] = []
        try:
            while True:
                frames.append(await self.recv(timeout))
        except ConnectionClosed:
            return frames

    async def close(self) -> None:
        await self.ws.close()


class RawPolling:
    """Engine.IO v4 over HTTP long-polling, request by request."""

    def __init__(self, http: httpx.AsyncClient, base_url: str, handshake: dict[str, Any]) -> None:
        self.http = http
        self.handshake = handshake
        self.url = f"{base_url}/socket.io/?EIO=4&transport=polling&sid={handshake['sid']}"

    @classmethod
    async def open(cls, base_url: str) -> RawPolling:
        http = httpx.AsyncClient(timeout=TIMEOUT)
        response = await http.get(f"{base_url}/socket.io/?EIO=4&transport=polling")
        assert response.status_code == 200 and response.text.startswith("0"), response.text
        return cls(http, base_url, json.loads(response.text[1:]))

    async def post(self, body: str | bytes) -> httpx.Response:
        return await self.http.post(self.url, content=body)

    async def get(self) -> httpx.Response:
        return await self.http.get(self.url)

    async def close(self) -> None:
        await self.http.aclose()
