"""`manage.py serve` with four workers on one port and a real redis: the stock socket.io-client
with its default transports (polling, then the upgrade) lands its requests on any worker, and
every one is served (forwarded to the session's owner); REST emits reach every socket; `/metrics`
reports every worker's counters."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.support.conversations import ok
from tests.support.node import NodeClients
from tests.support.serve import ServeGroup, http_get, label_sets, metric, post_ok
from tests.support.servers import RedisServer
from tests.support.tokens import user_token

pytestmark = pytest.mark.redis

SHARED = "/v1/shared"
CONVERSATION = "/v1/conversation"
WORKERS = 4
USERS = 12
SOCKETS_PER_USER = 2


@pytest.fixture(scope="module")
def four_workers(redis_server: RedisServer, server_database: str) -> Iterator[ServeGroup]:
    env = {"REDIS_URL": redis_server.url}
    group = ServeGroup(workers=WORKERS, env=env, database=server_database).start()
    yield group
    group.stop()


async def test_default_clients_on_four_workers(four_workers: ServeGroup, node: NodeClients) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    users = [f"{account}-u{n}" for n in range(USERS)]
    ids = [f"{uid}#{tab}" for uid in users for tab in range(SOCKETS_PER_USER)]
    before = four_workers.metrics()

    connects = await asyncio.gather(
        *(
            node.open(id, four_workers.url + SHARED, auth={"token": user_token(id[:-2], account)})
            for id in ids
        )
    )
    opens = [await node.next(id, "open") for id in ids]
    assert {o["transport"] for o in opens} == {"polling"}  # the default client's first
    upgrades = await asyncio.gather(*(node.next(id, "upgrade") for id in ids))
    assert {u["transport"] for u in upgrades} == {"websocket"}
    acks = await asyncio.gather(*(node.call(id, "join", {}) for id in ids))
    assert all(ack == [{"success": True, "message": "SUCCESS"}] for ack in acks), acks
    # the sessions were made by several workers (a sid starts with its owner's process id)
    assert len({c["engine"][:8] for c in connects}) >= 2, connects

    # a REST emit to each user reaches both of its sockets, wherever they live
    for number, uid in enumerate(users):
        body = await post_ok(f"{four_workers.url}/emit/{uid}/hello", {"n": number})
        assert body["data"] == {"delivered": SOCKETS_PER_USER}
    for id in ids:
        assert await node.next_event(id, "hello") == [{"n": users.index(id[:-2])}]
    body = await post_ok(f"{four_workers.url}/emit/account/{account}/everyone", {"all": True})
    assert body["data"] == {"delivered": len(ids)}
    for id in ids:
        assert await node.next_event(id, "everyone") == [{"all": True}]
        assert node.pending(id, "hello") == []  # nothing twice

    # forwarding really happened: polls and upgrades that reached a worker not owning the
    # session were served by the owner; /metrics (any worker) sums every worker's counters
    after = four_workers.metrics()
    for kind in ("get", "post", "websocket"):
        forwarded = metric(after, "engineio_forwarded_total", kind=kind)
        assert forwarded > metric(before, "engineio_forwarded_total", kind=kind), kind
    assert metric(after, "socketio_sockets", namespace=SHARED) == len(ids)
    assert metric(after, "socketio_connects_total", namespace=SHARED) - metric(
        before, "socketio_connects_total", namespace=SHARED
    ) == len(ids)

    for id in ids:
        await node.close(id)
    for id in ids:
        assert (await node.next(id, "disconnect"))["reason"] == "io client disconnect"


async def test_messages_between_users_on_different_workers(
    four_workers: ServeGroup, node: NodeClients
) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    pairs = [(f"{account}-a{n}", f"{account}-b{n}") for n in range(4)]
    everyone = [uid for pair in pairs for uid in pair]
    url = four_workers.url + CONVERSATION
    await asyncio.gather(
        *(node.open(uid, url, auth={"token": user_token(uid, account)}) for uid in everyone)
    )
    await asyncio.gather(*(node.next(uid, "upgrade") for uid in everyone))

    async def converse(alice: str, bob: str) -> None:
        [created] = await node.call(alice, "add_conversation", {"users": [bob]})
        cid = ok(created)["conversation"]["_id"]
        [added] = await node.next_event(bob, "add_conversation")
        assert added["conversation"]["_id"] == cid
        for sender, receiver in ((alice, bob), (bob, alice)):
            [ack] = await node.call(sender, "message", {"cid": cid, "content": f"hi {receiver}"})
            message = ok(ack)["message"]
            assert message["sender_id"] == sender and message["content"] == f"hi {receiver}"
            for participant in (receiver, sender):  # every participant's user: room
                assert await node.next_event(participant, "new_message") == [{"message": message}]

    await asyncio.gather(*(converse(alice, bob) for alice, bob in pairs))


async def test_metrics_families_and_labels(four_workers: ServeGroup, node: NodeClients) -> None:
    """After some traffic, every family the operators' dashboards use is there, with its
    labels (layer errors and drops: tests/e2e/test_serve_outage.py, where they happen)."""
    account = f"acct-{uuid.uuid4().hex[:8]}"
    uid, offline = f"{account}-m", f"{account}-offline"
    token = user_token(uid, account)
    await node.open("m", four_workers.url + SHARED, auth={"token": token})
    await node.call("m", "join", {})
    await node.open("o", four_workers.url + SHARED, auth={"token": user_token(offline, account)})
    [registered] = await node.call("o", "register_device", {"token": "t-1", "platform": "android"})
    assert registered["success"] is True, registered
    await node.close("o")
    await node.next("o", "disconnect")
    await no_live_socket(four_workers, offline)  # the registry has the disconnect
    await post_ok(f"{four_workers.url}/emit/{uid}/ping", {})
    assert await node.next_event("m", "ping") == [{}]
    await post_ok(f"{four_workers.url}/emit/{offline}/missed", {"title": "t"})  # a push

    route = "emit/<str:user_id>/<str:event>"
    # the events' and emits' counts reach /metrics within a second (realtime.metrics.count)
    samples = await metrics_once(
        four_workers,
        lambda samples: (
            metric(samples, "emit_api_requests_total", route=route, status="200") >= 2
            and metric(samples, "socketio_events_in_total", event="register_device") >= 1
            and metric(samples, "socketio_events_out_total", namespace=SHARED, event="ping") >= 1
        ),
    )
    assert metric(samples, "socketio_sockets", namespace=SHARED) >= 1
    assert {"namespace": SHARED} in label_sets(samples, "socketio_connects_total")
    assert {"namespace": SHARED, "reason": "client namespace disconnect"} in label_sets(
        samples, "socketio_disconnects_total"
    )
    assert metric(samples, "socketio_events_in_total", namespace=SHARED, event="join") >= 1
    assert metric(samples, "socketio_events_in_total", event="register_device") >= 1
    assert metric(samples, "socketio_events_out_total", namespace=SHARED, event="ping") >= 1
    assert metric(samples, "emit_api_requests_total", route=route, status="200") >= 2
    assert metric(samples, "emit_api_request_seconds_count", route=route) >= 2
    assert {"route": route, "le": "+Inf"} in label_sets(samples, "emit_api_request_seconds_bucket")
    assert metric(samples, "engineio_sessions") >= 1
    assert {"kind": "websocket"} in label_sets(samples, "engineio_forwarded_total")
    await wait_for_push(four_workers)


async def metrics_once(group: ServeGroup, ready: Callable[[Any], bool]) -> Any:
    """The workers' samples once `ready` holds of them (at most 5 s)."""
    for _ in range(100):
        samples = group.metrics()
        if ready(samples):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError("the metrics never got there")


async def no_live_socket(group: ServeGroup, uid: str) -> None:
    for _ in range(100):
        status, body = await asyncio.to_thread(http_get, f"{group.url}/online/{uid}")
        if status == 200 and body["sockets"] == 0:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{uid} still has a live socket: {body}")


async def wait_for_push(group: ServeGroup) -> None:
    """The offline push runs after the REST answer; its outcome is counted by then soon."""
    for _ in range(100):
        samples = group.metrics()
        if metric(samples, "push_notifications_total", outcome="sent") >= 1:
            assert {"outcome": "failed"} in label_sets(samples, "push_notifications_total")
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"no push counted: {label_sets(samples, 'push_notifications_total')}")


def test_a_killed_worker_is_replaced_on_its_socket(
    redis_server: RedisServer, server_database: str
) -> None:
    """Each worker listens on a socket of its own (SO_REUSEPORT): when one is killed, the
    supervisor starts a new worker on that socket, and both sockets serve again."""
    env = {"REDIS_URL": redis_server.url}
    group = ServeGroup(workers=2, env=env, database=server_database).start()
    try:
        before = set(group.owners)
        assert group.process is not None
        workers = _children(group.process.pid)
        assert len(workers) == 2, workers
        os.kill(workers[0], signal.SIGKILL)
        group.owners = set()
        group.wait_for_workers()  # handshakes answered by two processes again
        assert len(group.owners) == 2 and group.owners != before, (before, group.owners)
        assert workers[1] in _children(group.process.pid)  # the other one was left alone
        assert "exited (-9); restarting" in group.log()
    finally:
        group.stop()


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as children:
        return [int(child) for child in children.read().split()]
