"""`/v1/conversation` refuses: bad payloads, non-participants, other accounts, retried sends."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from tests.support.clients import RecordingClient
from tests.support.conversations import NS, failed, unique
from tests.support.tokens import user_token

# every client event with a payload it must refuse, and the field the errors must name
BAD_PAYLOADS: list[tuple[str, Any, str]] = [
    ("join", "not an object", "non_field_errors"),
    ("active_status", {"status": "asleep"}, "status"),
    ("add_conversation", {"users": []}, "users"),
    ("add_conversation", {"users": [True]}, "users.0"),
    ("list_conversation", {"page": 0}, "page"),
    ("list_conversation", {"filter": {"status": "weird"}}, "filter.status"),
    ("conversation_filter", {"limit": 1000}, "limit"),
    ("get_conversation_by_id", {}, "cid"),
    ("get_conversation_by_id", {"cid": "abc"}, "cid"),
    ("list_message", {"cid": "1", "limit": 0}, "limit"),
    ("list_message", {"cid": "1", "before": "x"}, "before"),
    ("list_message_by_id", {"cid": "1"}, "message_id"),
    ("channel", {"channel_id": {"nested": 1}}, "channel_id"),
    ("message", {"cid": "1"}, "content"),
    ("message", {"cid": "1", "content": "x", "attachments": "no"}, "attachments"),
    ("message", {"conversation_id": -4, "content": "x"}, "cid"),
    ("typing", {"cid": "1"}, "is_typing"),
    ("read", {"cid": "1", "message_id": "last"}, "message_id"),
    ("open", {"cid": "1"}, "value"),
    ("snooze", {"cid": "1", "value": True}, "until"),
    ("snooze", {"cid": "1", "value": True, "until": "2001-01-01T00:00:00Z"}, "until"),
    ("archive", {"cid": "x", "value": True}, "cid"),
    ("show_on_top", {"cid": "1", "value": "maybe"}, "value"),
    ("add_participant", {"cid": "1", "users": "bob"}, "users"),
    ("edit_conversation", {"cid": "1", "title": "t" * 300}, "title"),
]

SCOPED_EVENTS: list[tuple[str, dict[str, Any]]] = [
    ("get_conversation_by_id", {}),
    ("list_message", {}),
    ("list_message_by_id", {"message_id": "1"}),
    ("message", {"content": "let me in"}),
    ("typing", {"is_typing": True}),
    ("read", {}),
    ("open", {"value": False}),
    ("snooze", {"value": True, "until": "2999-01-01T00:00:00Z"}),
    ("archive", {"value": True}),
    ("show_on_top", {"value": True}),
    ("add_participant", {"users": ["intruder"]}),
    ("edit_conversation", {"title": "mine now"}),
]


async def test_every_event_refuses_a_bad_payload_and_the_socket_lives_on(server, team) -> None:
    alice = await team.connect(server.url, "alice")
    assert {event for event, _, _ in BAD_PAYLOADS} >= {event for event, _ in SCOPED_EVENTS}
    for event, payload, field in BAD_PAYLOADS:
        ack = failed(await alice.call(event, payload), "VALIDATION_ERROR")
        assert ack["errno"] == 400, (event, ack)
        assert field in ack["errors"], (event, payload, ack)
        assert all(isinstance(m, str) for m in ack["errors"][field]), ack
    assert "counters" in await alice.ok("channel", {})  # still connected and served


async def test_unknown_event_is_not_found(server, team) -> None:
    alice = await team.connect(server.url, "alice")
    assert failed(await alice.call("no_such_event", {}), "NOT_FOUND")["errno"] == 404


async def test_non_participant_is_forbidden_and_other_accounts_see_nothing(server, team) -> None:
    alice = await team.connect(server.url, "alice")
    bob = await team.connect(server.url, "bob")
    carol = await team.connect(server.url, "carol")
    stranger = await team.connect(server.url, "eve", account=unique("other"))
    conversation = (await alice.ok("add_conversation", {"users": [bob.uid]}))["conversation"]
    cid = conversation["_id"]
    for event, fields in SCOPED_EVENTS:
        ack = failed(await carol.call(event, {"cid": cid, **fields}), "FORBIDDEN")
        assert ack["errno"] == 403
        failed(await stranger.call(event, {"cid": cid, **fields}), "NOT_FOUND")
    listing = await carol.ok("list_conversation", {})
    assert cid not in [c["_id"] for c in listing["conversation"]]
    await asyncio.sleep(0.3)
    assert bob.received("new_message") == [] and bob.received("typing") == []
    after = await alice.ok("get_conversation_by_id", {"cid": cid})
    assert after["conversation"]["users"] == [alice.uid, bob.uid]
    assert after["conversation"]["title"] == ""


async def test_a_token_without_an_account_may_not_converse(server, team) -> None:
    loner = await team.connect(server.url, "loner", token=user_token(unique("loner"), ""))
    failed(await loner.call("add_conversation", {"users": ["someone"]}), "FORBIDDEN")
    failed(await loner.call("list_conversation", {}), "FORBIDDEN")
    assert (await loner.ok("join", {}))["status"] == "active"


async def test_a_repeated_client_msg_id_is_stored_and_sent_once(server, team) -> None:
    alice = await team.connect(server.url, "alice")
    bob = await team.connect(server.url, "bob")
    cid = (await alice.ok("add_conversation", {"users": [bob.uid]}))["conversation"]["_id"]
    send = {"cid": cid, "content": "only once", "client_msg_id": "c-42"}
    first = (await alice.ok("message", send))["message"]
    again = (await alice.ok("message", {**send, "content": "edited retry"}))["message"]
    assert again == first and first["client_msg_id"] == "c-42"
    assert (await bob.next("new_message"))["message"] == first
    assert (await bob.next("counter")) == {"cid": cid, "unread_count": 1, "total_unread": 1}
    await asyncio.sleep(0.3)
    assert bob.received("new_message") == [] and bob.received("counter") == []
    page = await bob.ok("list_message", {"cid": cid})
    assert [m["_id"] for m in page["messages"]] == [first["_id"]]
    assert page["conversation"]["unread_count"] == 1


async def test_conversation_namespace_needs_a_user_with_the_scope(server) -> None:
    client = RecordingClient(server.url, ["websocket"], [NS])
    try:
        connect = client.connect({"token": user_token(unique("u"), "a1", scope="crm")})
        with contextlib.suppress(Exception):  # the client raises on a refused namespace
            await connect
        error = await client.connect_errors[NS].get()
        assert error == {"message": "NOT_ENOUGH_SCOPE", "data": {"errno": 403}}
    finally:
        await client.close()
