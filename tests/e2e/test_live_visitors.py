"""Live-chat visitors end to end: a token from the REST API, a visitor chatting with two staff
users on /v1/conversation/live, every other event FORBIDDEN, and two processes on redis."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

import pytest

from tests.support.clients import RecordingClient
from tests.support.conversations import LIVE, NS, Team, User, failed
from tests.support.prospects import (
    connect_visitor,
    contact_create,
    prospect_start,
    rest,
    visitor_token,
)
from tests.support.servers import ServerProcess
from tests.support.tokens import make_token

TYPING_TIMEOUT_S = 0.6

# every event a user may send on the conversation namespaces, none of them a visitor's
OTHER_EVENTS = [
    "active_status",
    "add_conversation",
    "list_conversation",
    "conversation_filter",
    "get_conversation_by_id",
    "list_message",
    "list_message_by_id",
    "channel",
    "open",
    "snooze",
    "archive",
    "show_on_top",
    "add_participant",
    "edit_conversation",
    "prospect_add_conversation",
    "prospect_list_conversation",
    "prospect_list_message",
    "prospect_list_message_by_id",
    "prospect_add_participant",
    "prospect_open",
    "prospect_snooze",
    "prospect_show_on_top",
    "prospect_read",
    "prospect_archive",
    "prospect_get_conversation_by_id",
    "prospect_add_note",
    "prospect_edit_conversation",
    "prospect_message",
    "register_device",
    "no_such_event",
]


@pytest.fixture(scope="module")
def live(server_database: str) -> Iterator[ServerProcess]:
    """A server whose typing indicators stop quickly."""
    process = ServerProcess(
        env={"TYPING_TIMEOUT_S": str(TYPING_TIMEOUT_S)}, database=server_database
    )
    yield process.start()
    process.stop()


async def prospect(
    url: str, database: str, team: Team, owner: User, others: list[User]
) -> tuple[int, str]:
    """A contact and `owner`'s prospect conversation with it: (contact id, conversation id)."""
    contact, heard = await prospect_start(
        database, team, owner, others, name="Vic Visitor", channel_id="site"
    )
    cid = heard[0]["conversation"]["_id"]
    assert all(event["conversation"]["_id"] == cid for event in heard)
    return contact, cid


async def test_a_visitor_chatting_with_two_staff_users(live, server_database, team: Team) -> None:
    alice = await team.connect(live.url, "alice")
    bob = await team.connect(live.url, "bob", namespace=LIVE)
    contact, cid = await prospect(live.url, server_database, team, alice, [bob])
    minted = await visitor_token(live.url, contact, cid, ttl=600)
    assert minted["expires_at"].endswith("Z")
    guest = await connect_visitor(team, live.url, minted["token"])
    me = f"visitor:{contact}"

    joined = await guest.ok("join", {})
    assert joined["visitor_id"] == str(contact) and joined["messages"] == []
    assert joined["conversation"]["_id"] == cid and joined["conversation"]["title"] == "Vic Visitor"
    assert "users" not in joined["conversation"]

    # typing reaches both staff users, and stops by itself
    assert await guest.ok("typing", {"cid": cid, "is_typing": True}) is None
    for user in (alice, bob):
        typing = await user.next("prospect_typing")
        assert typing == {"cid": cid, "user_id": me, "is_typing": True}
    stopped = await alice.next("prospect_typing", timeout=TYPING_TIMEOUT_S + 3)
    assert stopped == {"cid": cid, "user_id": me, "is_typing": False}
    assert alice.received("typing") == []  # never the team's event

    # the visitor's message: INCOMING, from the contact, to both staff users with their counts
    message = (await guest.ok("message", {"cid": cid, "content": "Is it in stock?"}))["message"]
    assert message["type"] == "INCOMING" and message["sent_by"] == str(contact)
    assert message["is_sender"] is True and message["conversation_id"] == cid
    assert message["data"] == {"content": "Is it in stock?", "attachments": []}
    assert (await guest.next("prospect_message")) == message  # its other tabs see it too
    for user in (alice, bob):
        assert (await user.next("prospect_message")) == {**message, "is_sender": False}
        counter = await user.next("prospect_counter")
        assert counter == {"cid": cid, "unread_count": 1, "total_unread": 1}

    # bob replies: the visitor's room gets it; alice too; bob's sockets as its sender
    reply = await bob.ok("prospect_message", {"cid": cid, "data": {"content": "Yes, 4 left"}})
    reply = reply["message"]
    assert (await guest.next("prospect_message")) == {**reply, "is_sender": False}
    assert reply["type"] == "OUTGOING" and reply["sent_by"] == bob.uid
    assert (await alice.next("prospect_message")) == {**reply, "is_sender": False}
    assert (await bob.next("prospect_message")) == reply
    assert (await alice.next("prospect_counter"))["unread_count"] == 2

    # the visitor reads: staff hear who read what; its history has both messages
    assert await guest.ok("read", {"cid": cid}) == {"cid": cid, "unread_count": 0}
    for user in (alice, bob):
        read = await user.next("prospect_read")
        assert read == {"cid": cid, "user_id": me, "message_id": reply["_id"]}
    history = (await guest.ok("join", {"cid": cid}))["messages"]
    assert [m["_id"] for m in history] == [message["_id"], reply["_id"]]
    assert [m["is_sender"] for m in history] == [True, False]
    staff_view = await alice.ok("prospect_list_message", {"cid": cid})
    assert [m["type"] for m in staff_view["messages"]] == ["INCOMING", "OUTGOING"]
    await alice.ok("prospect_add_note", {"cid": cid, "content": "wants 4"})
    await asyncio.sleep(0.2)
    assert guest.received("prospect_note") == [] and guest.received("prospect_counter") == []


async def test_a_visitor_trying_every_other_event(live, server_database, team: Team) -> None:
    alice = await team.connect(live.url, "alice")
    contact, cid = await prospect(live.url, server_database, team, alice, [])
    _, other_cid = await prospect(live.url, server_database, team, alice, [])
    guest = await connect_visitor(
        team, live.url, (await visitor_token(live.url, contact, cid))["token"]
    )
    for event in OTHER_EVENTS:
        payload = {"cid": cid, "users": [alice.uid], "status": "active", "value": True}
        failed(await guest.call(event, payload), "FORBIDDEN")
    # the four a visitor has, on any conversation but its own
    failed(await guest.call("join", {"cid": other_cid}), "FORBIDDEN")
    failed(await guest.call("message", {"cid": other_cid, "content": "hi"}), "FORBIDDEN")
    failed(await guest.call("typing", {"cid": other_cid, "is_typing": True}), "FORBIDDEN")
    failed(await guest.call("read", {"cid": other_cid}), "FORBIDDEN")
    failed(await guest.call("message", {"cid": cid}), "VALIDATION_ERROR")
    # a token for a conversation of another account (or none at all) reaches nothing
    forged = make_token(
        {"type": "visitor", "visitor_id": "x", "account_id": "elsewhere", "conversation_id": cid}
    )
    stray = await connect_visitor(team, live.url, forged)
    failed(await stray.call("join", {}), "FORBIDDEN")
    failed(await stray.call("message", {"cid": cid, "content": "hi"}), "FORBIDDEN")
    # the socket lives on, and staff heard nothing of it all
    assert (await guest.ok("join", {}))["conversation"]["_id"] == cid
    await asyncio.sleep(0.2)
    assert alice.received("prospect_message") == [] and alice.received("prospect_typing") == []
    # a visitor may not use the team namespace at all
    client = RecordingClient(live.url, ["websocket"], [NS])
    try:
        with contextlib.suppress(Exception):  # the client raises on a refused namespace
            await client.connect({"token": forged})
        error = await client.connect_errors[NS].get()
        assert error == {"message": "NOT_ENOUGH_SCOPE", "data": {"errno": 403}}
    finally:
        await client.close()


async def test_visitor_token_route_validates_and_follows_the_access_policy(
    live, server_database, server_factory, team: Team
) -> None:
    alice = await team.connect(live.url, "alice")
    contact, cid = await prospect(live.url, server_database, team, alice, [])
    other_contact = contact_create(server_database, team.account, "Other")
    for body, status in [
        ({"contact_id": other_contact, "conversation_id": cid}, 404),
        ({"contact_id": contact, "conversation_id": "999999999"}, 404),
        ({"contact_id": contact}, 400),
        ({"contact_id": contact, "conversation_id": cid, "ttl": 5}, 400),
        ([contact, cid], 400),
    ]:
        answer = await rest(live.url, "POST", "/live/visitor-token", json=body)
        assert answer.status_code == status, (body, answer.text)
        assert answer.json()["success"] is False
    guarded = server_factory(INTERNAL_API_KEY="k-visitors")
    body = {"contact_id": contact, "conversation_id": cid}
    assert (await rest(guarded.url, "POST", "/live/visitor-token", json=body)).status_code == 401
    keyed = await rest(
        guarded.url,
        "POST",
        "/live/visitor-token",
        json=body,
        headers={"x-internal-key": "k-visitors"},
    )
    assert keyed.status_code == 200 and keyed.json()["data"]["token"]


@pytest.mark.redis
async def test_visitor_on_one_process_and_staff_on_the_other(
    redis_server, server_factory, server_database, team: Team
) -> None:
    first = server_factory(REDIS_URL=redis_server.url)
    second = server_factory(REDIS_URL=redis_server.url)
    alice = await team.connect(first.url, "alice", namespace=LIVE)
    bob = await team.connect(second.url, "bob")
    contact, cid = await prospect(first.url, server_database, team, alice, [bob])
    guest = await connect_visitor(
        team, second.url, (await visitor_token(first.url, contact, cid))["token"]
    )
    await guest.ok("join", {})

    message = (await guest.ok("message", {"cid": cid, "content": "hello from 2"}))["message"]
    assert (await alice.next("prospect_message")) == {**message, "is_sender": False}
    assert (await alice.next("prospect_counter"))["unread_count"] == 1
    assert (await bob.next("prospect_message"))["_id"] == message["_id"]
    await guest.ok("typing", {"cid": cid, "is_typing": True})
    assert (await alice.next("prospect_typing"))["user_id"] == f"visitor:{contact}"

    sent = await alice.ok("prospect_message", {"cid": cid, "data": {"content": "hi from 1"}})
    reply = sent["message"]
    to_guest = await guest.next_where("prospect_message", lambda m: m["_id"] == reply["_id"])
    assert to_guest == {**reply, "is_sender": False}
    to_bob = await bob.next_where("prospect_message", lambda m: m["_id"] == reply["_id"])
    assert to_bob == {**reply, "is_sender": False}
