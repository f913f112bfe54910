"""Offline push against a real server: devices registered over /v1/shared, REST emits to users
with no live socket, firebase-admin's real client talking to a local OAuth + FCM stand-in."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.fcm_standin import FcmStandIn, SentMessage, firebase_env
from tests.support.servers import ServerProcess
from tests.support.shared import (
    CONVERSATION,
    SHARED,
    SUCCESS,
    delivered,
    device_tokens,
    eventually,
    new_uid,
    open_tab,
    rest_emit,
    wait_live_sockets,
)

PROJECT = "gs-push-e2e"
QUIET_S = 0.5  # how long "no push arrives" is watched for


@pytest.fixture(scope="module")
def push_server(fcm: FcmStandIn, server_database: str) -> Iterator[ServerProcess]:
    """The service with the firebase backend, its OAuth and FCM calls going to the stand-in."""
    env = firebase_env(fcm, Path(tempfile.mkdtemp(prefix="fcm-")), project_id=PROJECT)
    process = ServerProcess(env=env, database=server_database)
    yield process.start()
    process.stop()


def sent_to(fcm: FcmStandIn, token: str) -> list[SentMessage]:
    with fcm.state.lock:
        return [message for message in fcm.state.sent if message.token == token]


async def pushes(fcm: FcmStandIn, token: str, count: int = 1) -> list[SentMessage]:
    """Wait until the stand-in has `count` messages for `token`."""

    async def probe() -> list[SentMessage]:
        return sent_to(fcm, token)

    return await eventually(probe, lambda messages: len(messages) >= count)


def new_token(label: str) -> str:
    return f"fcm-{label}-{new_uid('t')}"


async def register(tab: Any, token: str, platform: str = "android") -> None:
    ack = await tab.call(SHARED, "register_device", {"token": token, "platform": platform})
    assert ack == {**SUCCESS, "data": {"token": token, "platform": platform}}


async def registered_then_gone(server: ServerProcess, database: str, uid: str, *tokens: str):
    """A user who registered `tokens` from a tab, then closed it."""
    tab = await open_tab(server, uid)
    for token in tokens:
        await register(tab, token)
    await tab.close()
    await wait_live_sockets(database, uid, 0)


async def test_a_user_with_no_live_socket_gets_the_emit_as_a_push(
    push_server: ServerProcess, fcm: FcmStandIn, server_database: str
) -> None:
    uid, token = new_uid(), new_token("phone")
    await registered_then_gone(push_server, server_database, uid, token)
    assert device_tokens(server_database, uid) == {token}

    payload = {"title": "T", "message": "M", "extra": [1]}
    assert await rest_emit(push_server, f"/emit/{uid}/notification", payload) == delivered(0)
    [push] = await pushes(fcm, token)
    assert push.project == PROJECT
    assert push.authorization == f"Bearer {fcm.state.access_token}"
    message = push.body["message"]
    assert message["token"] == token
    assert message["notification"] == {"title": "T", "body": "M"}
    assert message["data"] == {"event": "notification"}
    # no title in the payload: the event's name; a message object's content is the body
    payload = {"message": {"content": "from an object"}}
    assert await rest_emit(push_server, f"/emit/{uid}/new_note", payload) == delivered(0)
    second = (await pushes(fcm, token, 2))[1].body["message"]
    assert second["notification"] == {"title": "new_note", "body": "from an object"}
    await asyncio.sleep(QUIET_S)
    assert len(sent_to(fcm, token)) == 2 and device_tokens(server_database, uid) == {token}


async def test_a_user_with_a_live_socket_gets_no_push(
    push_server: ServerProcess, fcm: FcmStandIn, server_database: str
) -> None:
    here, elsewhere = new_uid(), new_uid()
    tokens = {here: new_token("here"), elsewhere: new_token("elsewhere")}
    await registered_then_gone(push_server, server_database, elsewhere, tokens[elsewhere])
    tab = await open_tab(push_server, here)
    # connected, but only on /v1/conversation: a shared emit reaches no socket of theirs
    other = await open_tab(push_server, elsewhere, namespaces=(CONVERSATION,))
    try:
        await register(tab, tokens[here])
        await wait_live_sockets(server_database, elsewhere, 1)

        payload = {"title": "T", "message": "M"}
        assert await rest_emit(push_server, f"/emit/{here}/notification", payload) == delivered(1)
        assert await tab.next(SHARED, "notification") == [payload]
        answer = await rest_emit(push_server, f"/emit/{elsewhere}/notification", payload)
        assert answer == delivered(0)
        await asyncio.sleep(QUIET_S)
        assert sent_to(fcm, tokens[here]) == [] and sent_to(fcm, tokens[elsewhere]) == []
    finally:
        await tab.close()
        await other.close()


async def test_a_token_fcm_calls_unregistered_is_removed(
    push_server: ServerProcess, fcm: FcmStandIn, server_database: str
) -> None:
    uid, alive, dead = new_uid(), new_token("alive"), new_token("dead")
    fcm.state.invalid_tokens.add(dead)
    await registered_then_gone(push_server, server_database, uid, alive, dead)
    assert device_tokens(server_database, uid) == {alive, dead}

    payload = {"title": "T", "message": "M"}
    assert await rest_emit(push_server, f"/emit/{uid}/notification", payload) == delivered(0)
    await pushes(fcm, alive)
    await pushes(fcm, dead)

    async def probe() -> set[str]:
        return device_tokens(server_database, uid)

    assert await eventually(probe, lambda tokens: tokens == {alive})
    # the next push goes to the living token only
    assert await rest_emit(push_server, f"/emit/{uid}/notification", payload) == delivered(0)
    await pushes(fcm, alive, 2)
    await asyncio.sleep(QUIET_S)
    assert len(sent_to(fcm, dead)) == 1


async def test_unregister_device_removes_only_the_callers_own_token(
    push_server: ServerProcess, fcm: FcmStandIn, server_database: str
) -> None:
    owner, intruder = new_uid(), new_uid()
    owners_token, intruders_token = new_token("owner"), new_token("intruder")
    owner_tab = await open_tab(push_server, owner)
    intruder_tab = await open_tab(push_server, intruder)
    try:
        await register(owner_tab, owners_token, "ios")
        await register(intruder_tab, intruders_token, "web")
        ack = await intruder_tab.call(SHARED, "unregister_device", {"token": owners_token})
        assert ack == {**SUCCESS, "data": {"removed": False}}
        assert device_tokens(server_database, owner) == {owners_token}
        ack = await intruder_tab.call(SHARED, "unregister_device", {"token": intruders_token})
        assert ack == {**SUCCESS, "data": {"removed": True}}
        assert device_tokens(server_database, intruder) == set()
        ack = await owner_tab.call(SHARED, "unregister_device", {"token": owners_token})
        assert ack == {**SUCCESS, "data": {"removed": True}}
        assert device_tokens(server_database, owner) == set()

        for event, payload, fields in [
            ("register_device", {}, {"token", "platform"}),
            ("register_device", {"token": "t", "platform": "symbian"}, {"platform"}),
            ("register_device", {"token": "x" * 513, "platform": "ios"}, {"token"}),
            ("register_device", ["not", "an", "object"], {"token", "platform"}),
            ("unregister_device", {"token": ""}, {"token"}),
            ("unregister_device", None, {"token"}),
        ]:
            ack = await owner_tab.call(SHARED, event, payload)
            assert ack["success"] is False and ack["errno"] == 400, ack
            assert ack["message"] == "VALIDATION_ERROR" and set(ack["errors"]) == fields, ack
        assert device_tokens(server_database, owner) == set()
    finally:
        await owner_tab.close()
        await intruder_tab.close()
    # nobody has a device now: an emit to the gone owner pushes nothing
    await wait_live_sockets(server_database, owner, 0)
    assert await rest_emit(push_server, f"/emit/{owner}/notification", {}) == delivered(0)
    await asyncio.sleep(QUIET_S)
    assert sent_to(fcm, owners_token) == [] and sent_to(fcm, intruders_token) == []
