"""Graceful shutdown (contract §9) on real servers: SIGTERM tells every socket, disconnects it,
answers 503 on /status while it drains, withdraws the instance's presence and exits in time."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from typing import Any

import httpx

from tests.support.clients import RawWebSocket
from tests.support.servers import RedisServer, ServerProcess
from tests.support.shared import (
    CONVERSATION,
    SHARED,
    Tab,
    delivered,
    eventually,
    live_instance_ids,
    live_sockets,
    new_uid,
    online,
    open_tab,
    rest,
    rest_emit,
    wait_live_sockets,
)
from tests.support.tokens import user_token

SHUTDOWN = ["server_shutdown", {"reconnect": True}]
TIMEOUT_S = 4.0
GRACE_S = 1.0
SERVER_DISCONNECT = "server disconnect"  # python-socketio's reason for a DISCONNECT packet


def exited_within(server: ServerProcess, seconds: float) -> float:
    """Wait for the process to exit; how long it took from now."""
    assert server.process is not None
    started = time.monotonic()
    server.process.wait(seconds)
    return time.monotonic() - started


async def raw_shared_socket(server: ServerProcess, uid: str) -> RawWebSocket:
    """A hand-driven WebSocket connected to /v1/shared, to read the exact frames."""
    raw = await RawWebSocket.open(server.url)
    await raw.send(f"40{SHARED}," + json.dumps({"token": user_token(uid)}))
    answer = await raw.recv()
    assert isinstance(answer, str) and answer.startswith(f"40{SHARED},{{"), answer
    return raw


async def told_then_disconnected(tab: Tab, namespace: str) -> None:
    assert await tab.next(namespace, "server_shutdown") == [{"reconnect": True}]
    assert await tab.next_disconnect(namespace) == SERVER_DISCONNECT


async def test_sigterm_tells_every_socket_disconnects_it_and_exits_in_time(
    server_factory, server_database: str
) -> None:
    server = server_factory(SHUTDOWN_TIMEOUT_S=str(TIMEOUT_S))
    uid = new_uid()
    tabs = [
        await open_tab(server, uid, namespaces=(SHARED, CONVERSATION)),
        await open_tab(server, uid, transports=("polling",)),
    ]
    raw = await raw_shared_socket(server, uid)
    try:
        [row, *_] = await wait_live_sockets(server_database, uid, 4)
        instance = row["instance_id"]
        assert instance in live_instance_ids(server_database)

        server.signal(signal.SIGTERM)
        frames = await raw.wait_closed()
        # the event, then the namespace's DISCONNECT, then the Engine.IO close
        event = f"42{SHARED}," + json.dumps(SHUTDOWN, separators=(",", ":"))
        assert frames[:2] == [event, f"41{SHARED},"], frames
        assert frames[2:] in ([], ["1"]), frames
        for namespace in (SHARED, CONVERSATION):
            await told_then_disconnected(tabs[0], namespace)
        await told_then_disconnected(tabs[1], SHARED)
        took = await asyncio.to_thread(exited_within, server, TIMEOUT_S + 1)
        assert took < TIMEOUT_S
        assert live_sockets(server_database, uid) == []
        assert instance not in live_instance_ids(server_database)
    finally:
        await raw.close()
        for tab in tabs:
            await tab.close()


async def test_status_answers_503_while_the_instance_drains(server_factory) -> None:
    server = server_factory(SHUTDOWN_DRAIN_S="1", SHUTDOWN_TIMEOUT_S=str(TIMEOUT_S))
    uid = new_uid()
    tab = await open_tab(server, uid)
    try:
        assert (await rest(server, "GET", "/status")).status_code == 200
        server.signal(signal.SIGTERM)
        signalled = time.monotonic()
        answered: list[Any] = []
        while True:  # sockets are still served while /status says 503
            try:
                response = await rest(server, "GET", "/status")
                answer = await rest_emit(server, f"/emit/{uid}/still", {})
            except httpx.TransportError:  # the drain ended and the process is exiting
                break
            answered.append((response.status_code, response.text))
            if answer == delivered(0):  # the drain ended: the socket was told and is gone
                break
            assert answer == delivered(1)
            assert await tab.next(SHARED, "still") == [{}]
            await asyncio.sleep(0.1)
        drained = time.monotonic() - signalled
        assert drained >= 0.8, drained
        assert len(answered) >= 3
        body = '{"success":false,"errno":503,"message":"SHUTTING_DOWN"}'
        assert set(answered) == {(503, body)}, answered
        assert await tab.next(SHARED, "server_shutdown") == [{"reconnect": True}]
        assert await tab.next_disconnect(SHARED) == SERVER_DISCONNECT
        took = await asyncio.to_thread(exited_within, server, TIMEOUT_S + 1)
        assert drained + took < TIMEOUT_S
    finally:
        await tab.close()


async def test_two_instances_a_sigterm_shows_no_user_offline(
    server_factory, redis_server: RedisServer, server_database: str
) -> None:
    env = {"REDIS_URL": redis_server.url, "PRESENCE_GRACE_S": str(GRACE_S)}
    stopping = server_factory(SHUTDOWN_TIMEOUT_S=str(TIMEOUT_S), **env)
    staying = server_factory(**env)
    everywhere, moving = new_uid(), new_uid()
    tabs = [await open_tab(stopping, everywhere), await open_tab(staying, everywhere)]
    mover = await open_tab(stopping, moving)
    moved: list[Tab] = []

    async def reconnect_to_the_survivor(payload: Any) -> None:
        assert payload == {"reconnect": True}
        moved.append(await open_tab(staying, moving))

    pending: list[asyncio.Task[None]] = []

    async def on_shutdown(payload: Any) -> None:
        # what a client does on server_shutdown: connect again at once (a load balancer picks
        # a live instance; here, the other one), not waiting for the old connection to end
        pending.append(asyncio.create_task(reconnect_to_the_survivor(payload)))

    mover.answers["server_shutdown"] = on_shutdown
    try:
        await wait_live_sockets(server_database, everywhere, 2)
        await wait_live_sockets(server_database, moving, 1)
        stopping.signal(signal.SIGTERM)
        seen: list[tuple[str, dict[str, Any]]] = []
        deadline = time.monotonic() + 2 * GRACE_S + 1
        while time.monotonic() < deadline:
            for uid in (everywhere, moving):
                seen.append((uid, await online(staying, uid)))
            await asyncio.sleep(0.05)
        offline = [(uid, state) for uid, state in seen if not state["online"]]
        assert offline == [], offline
        assert not stopping.alive
        for uid in (everywhere, moving):
            assert await online(staying, uid) == {"online": True, "status": "active", "sockets": 1}
        [row] = live_sockets(server_database, moving)
        await asyncio.gather(*pending)
        assert moved and row["sid"] == moved[0].sid(SHARED)
        await told_then_disconnected(tabs[0], SHARED)
    finally:
        for tab in [*tabs, mover, *moved]:
            await tab.close()


async def test_after_a_restart_users_who_do_not_come_back_go_offline(server_factory) -> None:
    """The only instance stops; its successor has no socket yet (so it does not sweep), and
    still no user of the old one stays online past the grace period."""
    env = {"PRESENCE_GRACE_S": str(GRACE_S)}
    old = server_factory(SHUTDOWN_TIMEOUT_S=str(TIMEOUT_S), **env)
    uid = new_uid()
    tab = await open_tab(old, uid)
    try:
        await eventually(lambda: online(old, uid), lambda state: state["sockets"] == 1)
        old.signal(signal.SIGTERM)
        await told_then_disconnected(tab, SHARED)
        await asyncio.to_thread(exited_within, old, TIMEOUT_S + 1)
    finally:
        await tab.close()
    new = server_factory(**env)
    state = await eventually(lambda: online(new, uid), lambda s: not s["online"], GRACE_S + 2)
    assert state == {"online": False, "status": "inactive", "sockets": 0}
