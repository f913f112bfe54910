"""Two `serve` groups (a second machine's worth) behind a real nginx with plain round-robin, on
one real redis: clients on both sides talk to each other and REST emits through nginx reach
them all. Then one group gets SIGTERM with clients connected (contract §9): they are told, they
reconnect through nginx to the surviving group, and presence never shows them offline."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.conversations import ok
from tests.support.node import NodeClients
from tests.support.serve import Nginx, ServeGroup, http_get, metric, post_ok
from tests.support.servers import RedisServer
from tests.support.tokens import user_token

pytestmark = pytest.mark.redis

SHARED = "/v1/shared"
CONVERSATION = "/v1/conversation"
PRESENCE_GRACE_S = 5.0  # the default
SHUTDOWN_TIMEOUT_S = 8.0
SHUTDOWN_DRAIN_S = 0.5  # `/status` answers 503 for this long before the sockets are told


@pytest.fixture(scope="module")
def groups(redis_server: RedisServer, server_database: str) -> Iterator[list[ServeGroup]]:
    env = {
        "REDIS_URL": redis_server.url,
        "PRESENCE_GRACE_S": str(PRESENCE_GRACE_S),
        "SHUTDOWN_TIMEOUT_S": str(SHUTDOWN_TIMEOUT_S),
        "SHUTDOWN_DRAIN_S": str(SHUTDOWN_DRAIN_S),
        "LOG_FORMAT": "json",
        # a flooding socket is disconnected soon (the last test); nothing else comes close
        "THROTTLE_SOCKET_RATE": "50/s",
        "THROTTLE_DISCONNECT_AFTER": "10",
    }
    started: list[ServeGroup] = []
    try:
        for _ in range(2):
            group = ServeGroup(workers=2, env=env, database=server_database)
            started.append(group.start())
        yield started
    finally:
        for group in started:
            group.stop()


@pytest.fixture(scope="module")
def nginx(groups: list[ServeGroup]) -> Iterator[Nginx]:
    proxy = Nginx([group.port for group in groups]).start()
    yield proxy
    proxy.stop()


async def open_on_both(
    node: NodeClients,
    nginx: Nginx,
    groups: list[ServeGroup],
    users: list[str],
    account: str,
    namespace: str,
    **options: object,
) -> dict[str, str]:
    """Open a socket per user through nginx; the Engine.IO session id of each.

    A client makes a varying number of requests per connect, so plain round-robin may put
    every handshake on one group: a socket that landed on the group already holding more is
    closed and opened again after a `/status` through nginx has moved the rotation on."""
    engines: dict[str, str] = {}
    for uid in users:
        token = user_token(uid, account)
        for _ in range(8):
            connect = await node.open(uid, nginx.url + namespace, auth={"token": token}, **options)
            counts = [sum(g.owns(e) for e in engines.values()) for g in groups]
            landed = next(n for n, g in enumerate(groups) if g.owns(connect["engine"]))
            if counts[landed] <= min(counts):
                break
            await node.close(uid)
            await node.next(uid, "disconnect")
            node.forget(uid)
            await asyncio.to_thread(http_get, nginx.url + "/status")
        engines[uid] = connect["engine"]
    return engines


def forwarded(groups: list[ServeGroup]) -> float:
    return sum(metric(group.metrics(), "engineio_forwarded_total") for group in groups)


async def test_clients_on_both_groups_talk_through_nginx(
    groups: list[ServeGroup], nginx: Nginx, node: NodeClients
) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    users = [f"{account}-u{n}" for n in range(6)]
    forwarded_before = forwarded(groups)
    # default transports: polling through nginx, then the upgrade
    engines = await open_on_both(node, nginx, groups, users, account, CONVERSATION)
    await asyncio.gather(*(node.next(uid, "upgrade") for uid in users))
    # round-robin put sessions on both groups; each request went to either group
    first, second = groups
    assert all(first.owns(e) or second.owns(e) for e in engines.values()), engines
    assert any(first.owns(e) for e in engines.values()), engines
    assert any(second.owns(e) for e in engines.values()), engines
    assert forwarded(groups) > forwarded_before  # polls and upgrades that crossed groups

    # one conversation for everyone: each message reaches all, on both groups
    creator, *others = users
    [created] = await node.call(creator, "add_conversation", {"users": others})
    cid = ok(created)["conversation"]["_id"]
    for uid in others:
        assert (await node.next_event(uid, "add_conversation"))[0]["conversation"]["_id"] == cid
    for sender in users:
        [ack] = await node.call(sender, "message", {"cid": cid, "content": f"from {sender}"})
        message = ok(ack)["message"]
        for uid in users:
            assert await node.next_event(uid, "new_message") == [{"message": message}]

    # REST emits through nginx, to each user and to the account, reach every socket
    for uid in users:
        body = await post_ok(f"{nginx.url}/emit/{uid}/direct?namespace=conversation", {"to": uid})
        assert body["data"] == {"delivered": 1}
        assert await node.next_event(uid, "direct") == [{"to": uid}]
    body = await post_ok(f"{nginx.url}/emit/account/{account}/all?namespace=conversation", {})
    assert body["data"] == {"delivered": len(users)}
    for uid in users:
        assert await node.next_event(uid, "all") == [{}]
    for uid in users:
        await node.close(uid)


class PresenceWatch:
    """Polls `/online/{uid}` on the surviving group for each user, from start to stop, and
    keeps every answer that was not `online`."""

    def __init__(self, url: str, users: list[str]) -> None:
        self.url = url
        self.users = users
        self.offline: list[tuple[str, int, object]] = []
        self.polls = 0
        self.task: asyncio.Task[None] | None = None

    async def run(self) -> None:
        while True:
            answers = await asyncio.gather(
                *(asyncio.to_thread(http_get, f"{self.url}/online/{uid}") for uid in self.users)
            )
            for uid, (status, body) in zip(self.users, answers, strict=True):
                if status != 200 or not body.get("online"):
                    self.offline.append((uid, status, body))
            self.polls += 1
            await asyncio.sleep(0.1)

    def start(self) -> None:
        self.task = asyncio.create_task(self.run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


async def test_sigterm_moves_clients_to_the_surviving_group(
    groups: list[ServeGroup], nginx: Nginx, node: NodeClients
) -> None:
    survivor, leaving = groups
    account = f"acct-{uuid.uuid4().hex[:8]}"
    users = [f"{account}-s{n}" for n in range(6)]
    engines = await open_on_both(
        node, nginx, groups, users, account, SHARED, reconnectOnShutdown=True
    )
    await asyncio.gather(*(node.next(uid, "upgrade") for uid in users))
    moving = [uid for uid in users if leaving.owns(engines[uid])]
    staying = [uid for uid in users if survivor.owns(engines[uid])]
    assert moving and staying and len(moving) + len(staying) == len(users), engines

    for uid in users:  # the registry records a connect within a moment
        await wait_online(survivor, uid)
    watch = PresenceWatch(survivor.url, users)
    watch.start()
    while watch.polls < 2:
        await asyncio.sleep(0.05)
    assert watch.offline == []

    leaving.signal(signal.SIGTERM)
    sigterm = time.monotonic()
    status = (0, None)
    while time.monotonic() - sigterm < SHUTDOWN_DRAIN_S:  # `/status` turns 503 at once
        status = await asyncio.to_thread(leaving.status)
        if status[0] == 503:
            break
    assert status == (503, {"success": False, "errno": 503, "message": "SHUTTING_DOWN"}), status

    for uid in moving:  # told, disconnected, then connected again, to the survivor
        assert await node.next_event(uid, "server_shutdown") == [{"reconnect": True}]
        assert (await node.next(uid, "disconnect"))["reason"] == "io server disconnect"
        await reconnected_to(node, uid, survivor)
    exit_code = await asyncio.to_thread(leaving.wait, SHUTDOWN_TIMEOUT_S + 3)
    assert exit_code == 0
    assert time.monotonic() - sigterm < SHUTDOWN_TIMEOUT_S + 3

    # presence: still online through the switch and after the grace period has passed
    await asyncio.sleep(PRESENCE_GRACE_S + 1.0)
    await watch.stop()
    assert watch.offline == [], watch.offline[:5]
    assert watch.polls >= 10

    # the survivor's own sockets were not told; one whose WebSocket nginx had sent through
    # the leaving group lost that connection (its session ended at once) and came back
    for uid in staying:
        assert node.pending(uid, "server_shutdown") == []
        for disconnect in node.pending(uid, "disconnect"):
            assert disconnect["reason"] == "transport close", disconnect
            await reconnected_to(node, uid, survivor)

    # the moved clients are served: a REST emit through nginx reaches everyone
    body = await post_ok(f"{nginx.url}/emit/account/{account}/after", {"moved": len(moving)})
    online = [http_get(f"{survivor.url}/online/{uid}") for uid in users]
    assert body["data"] == {"delivered": len(users)}, (online, node.log)
    for uid in users:
        assert await node.next_event(uid, "after") == [{"moved": len(moving)}]


async def wait_online(group: ServeGroup, uid: str) -> None:
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        status, body = await asyncio.to_thread(http_get, f"{group.url}/online/{uid}")
        if status == 200 and body["online"]:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{uid} is not shown online: {status} {body}")


async def reconnected_to(node: NodeClients, uid: str, group: ServeGroup) -> None:
    """Wait until socket `uid` is connected again on `group` (a reconnect that reached the
    leaving group just before it closed is cut and retried by the client itself)."""
    deadline = time.monotonic() + SHUTDOWN_TIMEOUT_S + 5
    while time.monotonic() < deadline:
        connect = await node.next(uid, "connect", timeout=deadline - time.monotonic())
        if group.owns(connect["engine"]):
            return
    raise AssertionError(f"{uid} did not reconnect to the surviving group")


async def test_every_log_line_is_json_and_names_its_socket(
    groups: list[ServeGroup], node: NodeClients
) -> None:
    """LOG_FORMAT=json for both groups: every line of theirs, supervisor, workers and the
    shutdown, is one JSON object; a line about a socket carries its sid, namespace and uid."""
    survivor, _ = groups
    account = f"acct-{uuid.uuid4().hex[:8]}"
    uid = f"{account}-flood"
    token = user_token(uid, account)
    connect = await node.open("flood", survivor.url + SHARED, auth={"token": token})
    for n in range(300):  # far past THROTTLE_SOCKET_RATE: disconnected
        await node.emit("flood", "join", {"n": n})
    assert (await node.next("flood", "disconnect"))["reason"] == "transport close"

    entries = []
    for group in groups:
        for line in group.log_path.read_text().splitlines():
            entry = json.loads(line)  # every line
            assert {"time", "level", "logger", "message"} <= set(entry), entry
            entries.append(entry)
    assert any(e["message"].startswith("serving http on") for e in entries)
    assert any(e["message"].startswith("SIGTERM: shutting down") for e in entries)
    [flood] = [e for e in entries if "keeps flooding" in e["message"]]
    assert flood["level"] == "WARNING"
    assert (flood["sid"], flood["namespace"], flood["uid"]) == (connect["sid"], SHARED, uid)
