"""Helpers for the /v1/shared, presence, REST and push end-to-end tests: browser-like tabs,
REST calls, the registry rows in the servers' SQLite file, and polling with a deadline."""

from __future__ import annotations

import asyncio
import sqlite3
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import httpx

from tests.support.clients import TIMEOUT, RecordingClient
from tests.support.servers import ServerProcess
from tests.support.tokens import user_token

SHARED = "/v1/shared"
CONVERSATION = "/v1/conversation"
LIVE = "/v1/conversation/live"
SUCCESS = {"success": True, "message": "SUCCESS"}

T = TypeVar("T")


def new_uid(prefix: str = "u") -> str:
    """A user id no other test uses."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class Tab(RecordingClient):
    """One browser tab of a user: python-socketio over websocket, with its own user agent."""

    def __init__(
        self,
        server: ServerProcess,
        uid: str,
        account_id: str = "acc-e2e",
        namespaces: tuple[str, ...] = (SHARED,),
        user_agent: str = "e2e-tab/1.0",
        transports: tuple[str, ...] = ("websocket",),
    ) -> None:
        super().__init__(server.url, list(transports), list(namespaces))
        self.server = server
        self.uid = uid
        self.token = user_token(uid, account_id)
        self.user_agent = user_agent

    async def open(self) -> Tab:
        await self.sio.connect(
            self.url,
            auth={"token": self.token},
            headers={"User-Agent": self.user_agent},
            transports=self.transports,
            namespaces=self.namespaces,
            wait_timeout=TIMEOUT,
        )
        return self

    async def drop(self) -> None:
        """Forget the client side without a word (what a killed server leaves behind)."""
        await self.sio.eio.disconnect(abort=True)


async def open_tab(server: ServerProcess, uid: str, **kwargs: Any) -> Tab:
    return await Tab(server, uid, **kwargs).open()


async def eventually(
    probe: Callable[[], Awaitable[T]],
    accept: Callable[[T], bool],
    timeout: float = TIMEOUT,
    interval: float = 0.05,
) -> T:
    """Call `probe` until `accept` takes its value; fail with the last value at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if accept(value):
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s; last value: {value!r}")
        await asyncio.sleep(interval)


# ----- REST ---------------------------------------------------------------------------


async def rest(server: ServerProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.url, timeout=TIMEOUT) as http:
        return await http.request(method, path, **kwargs)


async def rest_emit(
    server: ServerProcess, path: str, payload: Any = None, **kwargs: Any
) -> dict[str, Any]:
    """POST a JSON payload to an emit route; returns the envelope of a 200 answer."""
    response = await rest(server, "POST", path, json=payload, **kwargs)
    assert response.status_code == 200, response.text
    return response.json()


async def online(server: ServerProcess, uid: str) -> dict[str, Any]:
    response = await rest(server, "GET", f"/online/{uid}")
    assert response.status_code == 200, response.text
    return response.json()


def delivered(count: int) -> dict[str, Any]:
    return {**SUCCESS, "data": {"delivered": count}}


# ----- the registry, read from the servers' database ---------------------------------

LIVE_SOCKET_COLUMNS = (
    "sid",
    "namespace",
    "uid",
    "account_id",
    "instance_id",
    "transport",
    "remote_addr",
    "user_agent",
)


def _query(database: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database, timeout=10) as db:
        return db.execute(sql, params).fetchall()


def live_sockets(database: str, uid: str) -> list[dict[str, Any]]:
    """The user's LiveSocket rows, as dicts of LIVE_SOCKET_COLUMNS."""
    rows = _query(
        database,
        f"SELECT {', '.join(LIVE_SOCKET_COLUMNS)} FROM presence_livesocket WHERE uid = ?",
        uid,
    )
    return [dict(zip(LIVE_SOCKET_COLUMNS, row, strict=True)) for row in rows]


async def wait_live_sockets(database: str, uid: str, count: int) -> list[dict[str, Any]]:
    """Poll until the user has exactly `count` LiveSocket rows (writes are batched)."""

    async def probe() -> list[dict[str, Any]]:
        return live_sockets(database, uid)

    return await eventually(probe, lambda rows: len(rows) == count)


def presence_status(database: str, uid: str) -> str | None:
    rows = _query(database, "SELECT status FROM presence_userpresence WHERE uid = ?", uid)
    return rows[0][0] if rows else None


def live_instance_ids(database: str) -> set[str]:
    return {row[0] for row in _query(database, "SELECT id FROM presence_serverinstance")}


async def wait_instances(database: str, instance_ids: set[str]) -> None:
    """Poll until every one of the instances has heartbeated (it is then counted in emits)."""

    async def probe() -> set[str]:
        return live_instance_ids(database)

    await eventually(probe, lambda ids: instance_ids <= ids)


def device_tokens(database: str, uid: str) -> set[str]:
    rows = _query(database, "SELECT token FROM push_devicetoken WHERE uid = ?", uid)
    return {row[0] for row in rows}


def heartbeat_of(database: str, instance_id: str) -> str | None:
    """The instance's last heartbeat as stored, or None once it is gone."""
    rows = _query(
        database, "SELECT last_seen FROM presence_serverinstance WHERE id = ?", instance_id
    )
    return rows[0][0] if rows else None
