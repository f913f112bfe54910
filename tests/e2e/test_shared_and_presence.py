"""/v1/shared and presence against real servers: the quick start with the npm client and curl,
identity rooms across namespaces, the socket registry in the database, two tabs, the grace
period, two instances on redis, and an instance killed with SIGKILL."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import RedisServer, ServerProcess
from tests.support.shared import (
    CONVERSATION,
    LIVE,
    SHARED,
    SUCCESS,
    delivered,
    eventually,
    heartbeat_of,
    live_instance_ids,
    live_sockets,
    new_uid,
    online,
    open_tab,
    rest_emit,
    wait_live_sockets,
)
from tests.support.tokens import user_token

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
GRACE_S = 1.0
TTL_S = 4.0
QUIET_S = 0.3
OFFLINE = {"online": False, "status": "inactive", "sockets": 0}


def online_with(sockets: int) -> dict[str, Any]:
    return {"online": True, "status": "active", "sockets": sockets}


@pytest.fixture(scope="module")
def grace_server(server_database: str) -> Iterator[ServerProcess]:
    """One process with a one-second presence grace period."""
    process = ServerProcess(env={"PRESENCE_GRACE_S": str(GRACE_S)}, database=server_database)
    yield process.start()
    process.stop()


@pytest.fixture(scope="module")
def presence_cluster(
    redis_server: RedisServer, server_database: str
) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two processes on one redis, with a one-second grace period."""
    env = {"REDIS_URL": redis_server.url, "PRESENCE_GRACE_S": str(GRACE_S)}
    first = ServerProcess(env=env, database=server_database).start()
    second = ServerProcess(env=env, database=server_database)
    try:
        second.start()
    except Exception:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


async def run(*command: str, cwd: Path | None = None) -> tuple[int, str]:
    """A real binary, without blocking the event loop the socket clients run on."""
    process = await asyncio.create_subprocess_exec(
        *command, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stdout.decode() + stderr.decode()


async def watch_online(server: ServerProcess, uid: str, seconds: float) -> list[dict[str, Any]]:
    """Every answer of GET /online/{uid} for `seconds`."""
    seen = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen.append(await online(server, uid))
        await asyncio.sleep(0.05)
    return seen


async def until_offline(server: ServerProcess, uid: str, timeout: float) -> tuple[float, list]:
    """Seconds until GET /online says offline, and every answer before that."""
    started = time.monotonic()
    seen = []
    while time.monotonic() - started < timeout:
        state = await online(server, uid)
        if not state["online"]:
            return time.monotonic() - started, seen
        seen.append(state)
        await asyncio.sleep(0.05)
    raise AssertionError(f"{uid} still online after {timeout} s: {seen[-1:]}")


# ----- the quick start ----------------------------------------------------------------


async def test_quick_start_verbatim_with_the_npm_client_and_curl(server: ServerProcess) -> None:
    uid = new_uid()
    node, curl = shutil.which("node"), shutil.which("curl")
    assert node and curl, "node and curl are needed"
    assert (NODE_DIR / "node_modules" / "socket.io-client").is_dir(), "run npm ci in tests/node"
    code, out = await run(
        node, "quickstart.mjs", str(server.port), user_token(uid, "acc-q"), cwd=NODE_DIR
    )
    assert code == 0, out
    assert json.loads(out) == {**SUCCESS, "data": {"user_id": uid, "status": "active"}}

    tabs = [await open_tab(server, uid), await open_tab(server, uid)]
    try:
        body = '{"title":"Hello","message":"from curl","n":1}'
        code, out = await run(
            curl,
            "-sS",
            "-X",
            "POST",
            f"http://localhost:{server.port}/emit/{uid}/notification",
            "-H",
            "Content-Type: application/json",
            "-d",
            body,
        )
        assert code == 0, out
        assert out == '{"success":true,"message":"SUCCESS","data":{"delivered":2}}'
        for tab in tabs:
            assert await tab.next(SHARED, "notification") == [json.loads(body)]
    finally:
        for tab in tabs:
            await tab.close()


# ----- /v1/shared: join, identity rooms, the registry ---------------------------------


async def test_join_and_identity_rooms_reach_only_the_namespace_asked(
    server: ServerProcess,
) -> None:
    uid, account = new_uid(), new_uid("acc")
    every = (SHARED, CONVERSATION, LIVE)
    user = await open_tab(server, uid, account_id=account, namespaces=every)
    colleague = await open_tab(server, new_uid(), account_id=account)
    stranger = await open_tab(server, new_uid(), account_id=new_uid("acc"))
    try:
        assert await user.call(SHARED, "join", {}) == SUCCESS
        assert await user.call(SHARED, "join") == SUCCESS
        targets = {"shared": SHARED, "conversation": CONVERSATION, "live": LIVE}
        for name, namespace in targets.items():
            payload = {"to": "user", "ns": name}
            answer = await rest_emit(server, f"/emit/{uid}/ping?namespace={name}", payload)
            assert answer == delivered(1)
            assert await user.next(namespace, "ping") == [payload]
            payload = {"to": "account", "ns": name}
            path = f"/emit/account/{account}/ping?namespace={name}"
            answer = await rest_emit(server, path, payload)
            # the colleague's only socket is on /v1/shared
            assert answer["data"]["delivered"] == (2 if name == "shared" else 1)
            assert await user.next(namespace, "ping") == [payload]
        # no namespace given: /v1/shared
        assert await rest_emit(server, f"/emit/{uid}/ping", [1, "default"]) == delivered(1)
        assert await user.next(SHARED, "ping") == [[1, "default"]]
        await asyncio.sleep(QUIET_S)
        for namespace in every:
            assert user.received(namespace, "ping") == [], namespace
        assert colleague.received(SHARED, "ping") == [[{"to": "account", "ns": "shared"}]]
        assert stranger.received(SHARED, "ping") == []
    finally:
        for tab in (user, colleague, stranger):
            await tab.close()


async def test_every_live_socket_is_recorded_and_removed_on_disconnect(
    server: ServerProcess, server_database: str
) -> None:
    uid, account = new_uid(), new_uid("acc")
    assert live_sockets(server_database, uid) == []
    ws = await open_tab(server, uid, account_id=account, user_agent="Tab-WS/1.0")
    polling = await open_tab(
        server, uid, account_id=account, user_agent="Tab-Polling/2.0", transports=("polling",)
    )
    try:
        rows = {row["sid"]: row for row in await wait_live_sockets(server_database, uid, 2)}
        assert set(rows) == {ws.sid(SHARED), polling.sid(SHARED)}
        instances = {row.pop("instance_id") for row in rows.values()}
        assert len(instances) == 1 and instances <= live_instance_ids(server_database)
        common = {"namespace": SHARED, "uid": uid, "account_id": account}
        common["remote_addr"] = "127.0.0.1"
        assert rows[ws.sid(SHARED)] == {
            **common,
            "sid": ws.sid(SHARED),
            "transport": "websocket",
            "user_agent": "Tab-WS/1.0",
        }
        assert rows[polling.sid(SHARED)] == {
            **common,
            "sid": polling.sid(SHARED),
            "transport": "polling",
            "user_agent": "Tab-Polling/2.0",
        }
        assert await online(server, uid) == online_with(2)

        await ws.close()
        remaining = await wait_live_sockets(server_database, uid, 1)
        assert [row["sid"] for row in remaining] == [polling.sid(SHARED)]
        await polling.close()
        await wait_live_sockets(server_database, uid, 0)
    finally:
        await ws.close()
        await polling.close()


# ----- presence on one instance ---------------------------------------------------------


async def test_two_tabs_then_offline_only_after_the_grace_period(
    grace_server: ServerProcess,
) -> None:
    uid = new_uid()
    assert await online(grace_server, uid) == OFFLINE
    first = await open_tab(grace_server, uid)
    second = await open_tab(grace_server, uid)
    try:
        await eventually(lambda: online(grace_server, uid), lambda s: s == online_with(2))
        await first.close()
        await eventually(lambda: online(grace_server, uid), lambda s: s["sockets"] == 1)
        assert all(s == online_with(1) for s in await watch_online(grace_server, uid, GRACE_S))

        await second.close()
        elapsed, before = await until_offline(grace_server, uid, GRACE_S + 3)
        assert elapsed >= GRACE_S * 0.8, f"offline {elapsed:.2f} s after the last tab closed"
        assert before and all(s["online"] and s["status"] == "active" for s in before), before
        assert await online(grace_server, uid) == OFFLINE
    finally:
        await first.close()
        await second.close()


async def test_a_reconnect_within_the_grace_period_never_shows_offline(
    grace_server: ServerProcess,
) -> None:
    uid = new_uid()
    tab = await open_tab(grace_server, uid)
    await eventually(lambda: online(grace_server, uid), lambda s: s == online_with(1))
    await tab.close()  # a page reload
    await asyncio.sleep(GRACE_S / 4)
    tab = await open_tab(grace_server, uid)
    try:
        seen = await watch_online(grace_server, uid, GRACE_S * 2)
        assert all(s["online"] and s["status"] == "active" for s in seen), seen
        assert seen[-1] == online_with(1)
    finally:
        await tab.close()
    await until_offline(grace_server, uid, GRACE_S + 3)


# ----- presence on two instances ------------------------------------------------------


async def test_a_tab_on_each_instance_closing_one_keeps_the_user_online(
    presence_cluster: tuple[ServerProcess, ServerProcess], server_database: str
) -> None:
    first, second = presence_cluster
    uid = new_uid()
    on_first, on_second = await open_tab(first, uid), await open_tab(second, uid)
    try:
        rows = await wait_live_sockets(server_database, uid, 2)
        assert len({row["instance_id"] for row in rows}) == 2, rows
        for server in presence_cluster:
            assert await online(server, uid) == online_with(2)
        await on_first.close()
        await wait_live_sockets(server_database, uid, 1)
        seen = await watch_online(first, uid, GRACE_S * 1.5)
        assert all(s == online_with(1) for s in seen), seen
        assert await online(second, uid) == online_with(1)

        await on_second.close()
        elapsed, _ = await until_offline(first, uid, GRACE_S + 3)
        assert elapsed >= GRACE_S * 0.8
        assert await online(second, uid) == OFFLINE
    finally:
        await on_first.close()
        await on_second.close()


async def next_heartbeat(database: str, instance_id: str) -> None:
    """Return just after the instance's next heartbeat (every PRESENCE_TTL_S / 4)."""
    before = heartbeat_of(database, instance_id)

    async def probe() -> str | None:
        return heartbeat_of(database, instance_id)

    await eventually(probe, lambda seen: seen != before, timeout=TTL_S, interval=0.01)


async def test_a_killed_instance_leaves_the_registry_within_the_ttl(
    server_factory, redis_server: RedisServer, server_database: str
) -> None:
    env = {
        "REDIS_URL": redis_server.url,
        "PRESENCE_TTL_S": str(TTL_S),
        "PRESENCE_GRACE_S": str(GRACE_S),
    }
    doomed, survivor = server_factory(**env), server_factory(**env)
    only_there, everywhere = new_uid(), new_uid()
    tabs = [await open_tab(doomed, only_there), await open_tab(doomed, everywhere)]
    try:
        [row] = await wait_live_sockets(server_database, only_there, 1)
        doomed_id = row["instance_id"]
        # the worst phase: the survivor sweeps well after the doomed instance heartbeats
        await next_heartbeat(server_database, doomed_id)
        await asyncio.sleep(TTL_S / 4 * 0.6)
        tabs.append(await open_tab(survivor, everywhere))  # it heartbeats and sweeps from now
        rows = await wait_live_sockets(server_database, everywhere, 2)
        assert {r["instance_id"] for r in rows} - {doomed_id}, rows
        assert await online(survivor, only_there) == online_with(1)

        await next_heartbeat(server_database, doomed_id)
        doomed.kill()  # SIGKILL right after a heartbeat: no goodbye, no withdrawal
        elapsed, before = await until_offline(survivor, only_there, TTL_S + 4)
        assert elapsed <= TTL_S, f"offline only {elapsed:.2f} s after the kill"
        assert all(s == online_with(1) for s in before), before
        assert live_sockets(server_database, only_there) == []
        assert doomed_id not in live_instance_ids(server_database)
        [row] = live_sockets(server_database, everywhere)
        assert row["sid"] == tabs[2].sid(SHARED)
        assert await online(survivor, everywhere) == online_with(1)
        assert await online(survivor, only_there) == OFFLINE
    finally:
        for tab in tabs[:2]:
            await tab.drop()
        for tab in tabs[2:]:
            await tab.close()
