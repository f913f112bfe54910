"""In-memory ASGI clients for the adapter's Engine.IO entries (`handle_websocket`,
`handle_polling`): the real session, connection and namespaces, no server and no sockets;
and a runner that gives each hypothesis example its own event loop."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from django.conf import settings as django_settings
from django.test import override_settings

from realtime.engineio.polling import handle_polling
from realtime.engineio.server import EngineServer
from realtime.engineio.session import Session
from realtime.engineio.websocket import handle_websocket
from realtime.hub import get_hub

CLIENT = ("127.0.0.1", 50_000)
ANSWER_TIMEOUT_S = 2.0


class WebSocketHarness:
    """One WebSocket through `handle_websocket`: frames in by `send`, out in `sent`."""

    def __init__(self, server: EngineServer) -> None:
        self.server = server
        self.inbox: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.sent: list[dict[str, Any]] = []
        scope = {
            "type": "websocket",
            "path": "/socket.io/",
            "query_string": b"EIO=4&transport=websocket",
            "headers": [],
            "client": CLIENT,
        }
        self.inbox.put_nowait({"type": "websocket.connect"})
        self.task = asyncio.get_running_loop().create_task(
            handle_websocket(server, scope, self.inbox.get, self._record)
        )
        self.taken = 0  # frames already matched by a step

    async def _record(self, message: dict[str, Any]) -> None:
        self.sent.append(message)

    async def open(self) -> Session:
        handshake = await self.next_frame()
        assert isinstance(handshake, str) and handshake.startswith("0{"), handshake
        return self.server.sessions[json.loads(handshake[1:])["sid"]]

    def send(self, frame: str | bytes) -> None:
        key = "text" if isinstance(frame, str) else "bytes"
        self.inbox.put_nowait({"type": "websocket.receive", key: frame})

    @property
    def frames(self) -> list[str | bytes]:
        return [
            message["bytes"] if message.get("text") is None else message["text"]
            for message in self.sent
            if message["type"] == "websocket.send"
        ]

    @property
    def closed(self) -> bool:
        return any(message["type"] == "websocket.close" for message in self.sent)

    async def next_frame(self) -> str | bytes:
        """The next frame the server wrote (waiting for it, bounded)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + ANSWER_TIMEOUT_S
        while len(self.frames) <= self.taken:
            assert loop.time() < deadline, f"no answer; sent so far: {self.sent[-5:]}"
            await asyncio.sleep(0.001)
        frame = self.frames[self.taken]
        self.taken += 1
        return frame

    async def quiet(self) -> None:
        """Let every job the last frames started run, then check nothing was answered."""
        await settle()
        assert len(self.frames) == self.taken, self.frames[self.taken :]

    async def finish(self) -> None:
        self.inbox.put_nowait({"type": "websocket.disconnect", "code": 1000})
        await asyncio.wait_for(self.task, ANSWER_TIMEOUT_S)  # re-raises anything that escaped


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


class ErrorLog(logging.Handler):
    """Every record at ERROR or above, from any logger."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


# ----- the model: what the server must answer to each step ------------------------------------


class PollingHarness:
    """HTTP requests through `handle_polling`, in memory."""

    def __init__(self, server: EngineServer) -> None:
        self.server = server

    async def request(self, method: str, query: str, body: bytes = b"") -> tuple[int, bytes]:
        scope = {
            "type": "http",
            "method": method,
            "path": "/socket.io/",
            "query_string": query.encode(),
            "headers": [],
            "client": CLIENT,
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await asyncio.sleep(3600)  # the client waits for its answer
            return {"type": "http.disconnect"}

        async def record(message: dict[str, Any]) -> None:
            sent.append(message)

        await asyncio.wait_for(
            handle_polling(self.server, scope, receive, record), ANSWER_TIMEOUT_S
        )
        start, body_message = sent
        return start["status"], body_message["body"]


def run_in_fresh_loop(scenario: Any, **realtime: Any) -> None:
    """Run one example on its own event loop, with REALTIME settings overridden by `realtime`
    (and no socket registry: no database here); fail on anything the loop saw go wrong or
    anything logged as an error."""
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    loop_errors: list[dict[str, Any]] = []
    try:
        overrides = {**django_settings.REALTIME, "REGISTRY": False, **realtime}
        with override_settings(REALTIME=overrides), asyncio.Runner() as runner:
            runner.get_loop().set_exception_handler(lambda _loop, ctx: loop_errors.append(ctx))
            runner.run(scenario())
    finally:
        root.removeHandler(errors)
    assert not loop_errors, loop_errors
    assert not errors.records, [record.getMessage() for record in errors.records]


def hub_sids() -> set[str]:
    hub = get_hub()
    in_rooms = {socket.sid for members in hub.rooms.values() for socket in members}
    return set(hub.sockets) | in_rooms
