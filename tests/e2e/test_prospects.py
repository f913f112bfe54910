"""Prospect conversations end to end: real clients and a real server, every `prospect_*` event,
the REST triggers with each user's own unread count, offline push."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import pytest

from tests.support.conversations import LIVE, Team, User, failed, unique
from tests.support.fcm_standin import FcmStandIn, firebase_env
from tests.support.prospects import (
    communication_link,
    contact_create,
    prospect_start,
    rest,
)
from tests.support.servers import ServerProcess, wait_until


@pytest.fixture(scope="module")
def crm(server_database: str, fcm: FcmStandIn, tmp_path_factory) -> Iterator[ServerProcess]:
    """A server pushing to the FCM stand-in, with a short presence grace period."""
    env = {
        "PRESENCE_GRACE_S": "0.3",
        **firebase_env(fcm, tmp_path_factory.mktemp("fcm"), project_id="gs-prospects"),
    }
    process = ServerProcess(env=env, database=server_database).start()
    yield process
    process.stop()


async def start_conversation(
    crm: ServerProcess, server_database: str, team: Team, owner: User, others: list[User]
) -> str:
    """A contact, and `owner`'s prospect conversation with it; every participant hears of it.
    Returns the conversation id."""
    contact, heard = await prospect_start(
        server_database, team, owner, others, name="Dana Lead", image="dana.png", channel_id="web"
    )
    cid = heard[0]["conversation"]["_id"]
    for event in heard:
        assert event["is_new"] is True and event["conversation"]["_id"] == cid
        assert event["conversation"]["title"] == "Dana Lead"
        assert event["conversation"]["image"] == "dana.png"
        assert event["conversation"]["contact_id"] == str(contact)
    return cid


async def test_from_rest_trigger_to_each_users_screen_with_their_own_unread_counts(
    crm, server_database, team: Team
) -> None:
    alice, bob = await team.connect(crm.url, "alice"), await team.connect(crm.url, "bob")
    carol = await team.connect(crm.url, "carol", namespace=LIVE)  # staff on /live hear it too
    cid = await start_conversation(crm, server_database, team, alice, [bob, carol])

    messages = [
        (await alice.ok("prospect_message", {"cid": cid, "data": {"content": text}}))["message"]
        for text in ("hello", "are you there?")
    ]
    message = messages[0]
    assert message["type"] == "OUTGOING" and message["sent_by"] == alice.uid
    assert message["is_sender"] is True and message["conversation_id"] == cid
    for sent in messages:
        assert (await alice.next("prospect_message")) == sent
    for user in (bob, carol):
        for unread, sent in enumerate(messages, start=1):
            assert (await user.next("prospect_message")) == {**sent, "is_sender": False}
            assert (await user.next("prospect_counter"))["unread_count"] == unread
    assert await bob.ok("prospect_read", {"cid": cid}) == {"cid": cid, "unread_count": 0}
    assert (await bob.next("prospect_counter")) == {
        "cid": cid,
        "unread_count": 0,
        "total_unread": 0,
    }

    # the REST trigger: each user's screen gets the conversation with their own count
    answer = await rest(crm.url, "GET", f"/conversations/web/emit/conversation/{cid}/existing")
    assert answer.status_code == 200 and answer.json()["data"] == {"delivered": 3}
    expected = {alice: 0, bob: 0, carol: 2}
    for user, unread in expected.items():
        shown = await user.next_where("prospect_add_conversation", lambda e: e["is_new"] is False)
        assert shown["conversation"]["_id"] == cid and shown["conversation"]["users"] == [
            alice.uid,
            bob.uid,
            carol.uid,
        ]
        assert shown["conversation"]["unread_count"] == unread, user.uid
    new = await rest(crm.url, "GET", f"/conversations/web/emit/conversation/{cid}/new")
    assert new.status_code == 200
    assert (await carol.next("prospect_add_conversation"))["is_new"] is True

    # a message filed in two conversations reaches both, is_sender for its sender only
    other = await start_conversation(crm, server_database, team, carol, [])
    communication_link(server_database, message["_id"], other)
    answer = await rest(crm.url, "GET", f"/conversations/web/emit/message/{message['_id']}")
    assert answer.status_code == 200 and answer.json()["data"] == {"delivered": 4}
    assert (await alice.next("prospect_message")) == message
    assert (await bob.next("prospect_message")) == {**message, "is_sender": False}
    to_carol = sorted(
        [await carol.next("prospect_message") for _ in range(2)],
        key=lambda m: m["conversation_id"] != cid,
    )
    assert to_carol == [
        {**message, "is_sender": False},
        {**message, "is_sender": False, "conversation_id": other},
    ]


async def test_rest_triggers_refuse_a_bad_is_new_first_and_unknown_ids(crm) -> None:
    for path, status in [
        ("/conversations/web/emit/conversation/1/maybe", 400),
        ("/conversations/web/emit/conversation/not-an-id/maybe", 400),  # before any lookup
        ("/conversations/web/emit/conversation/999999999/new", 404),
        ("/conversations/web/emit/conversation/abc/existing", 404),
        ("/conversations/web/emit/message/999999999", 404),
        ("/conversations/web/emit/message/-1", 404),
    ]:
        answer = await rest(crm.url, "GET", path)
        assert answer.status_code == status, (path, answer.text)
        body = answer.json()
        assert body["success"] is False and body["errno"] == status
        code = "VALIDATION_ERROR" if status == 400 else "NOT_FOUND"
        assert body["message"] == code
        if status == 400:
            assert "is_new" in body["errors"]


async def test_every_prospect_event_of_a_staff_user(crm, server_database, team: Team) -> None:
    alice, bob = await team.connect(crm.url, "alice"), await team.connect(crm.url, "bob")
    cid = await start_conversation(crm, server_database, team, alice, [bob])
    ids = []
    for n in range(5):
        sent = await bob.ok("prospect_message", {"cid": cid, "data": {"content": f"m{n}"}})
        ids.append(sent["message"]["_id"])

    listing = await alice.ok("prospect_list_conversation", {"filter": {"search": "dana"}})
    assert [c["_id"] for c in listing["conversation"]] == [cid]
    assert listing["conversation"][0]["unread_count"] == 5
    assert [m["data"]["content"] for m in listing["messageList"][cid]] == [
        f"m{n}" for n in range(5)
    ]
    got = (await alice.ok("prospect_get_conversation_by_id", {"cid": cid}))["conversation"]
    assert got["users"] == [alice.uid, bob.uid] and got["contact"]["name"] == "Dana Lead"
    page = await alice.ok("prospect_list_message", {"cid": cid, "limit": 2})
    assert [m["_id"] for m in page["messages"]] == ids[-2:] and page["paging"]["has_more"]
    around = await bob.ok("prospect_list_message_by_id", {"cid": cid, "message_id": ids[2]})
    assert [m["_id"] for m in around["messages"]] == ids
    assert all(m["is_sender"] for m in around["messages"])

    dave = await team.connect(crm.url, "dave")
    added = await alice.ok("prospect_add_participant", {"cid": cid, "users": [dave.uid]})
    assert added["conversation"]["users"][-1] == dave.uid
    assert (await dave.next("prospect_add_conversation"))["is_new"] is False
    for user in (alice, bob):  # those there before
        update = await user.next("prospect_update_conversation")
        assert update["conversation"]["users"][-1] == dave.uid

    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    for event, payload, field, value in [
        ("prospect_show_on_top", {"value": True}, "show_on_top", True),
        ("prospect_snooze", {"value": True, "until": until}, "snoozed_until", None),
        ("prospect_open", {"value": False}, "is_open", False),
        ("prospect_archive", {"value": True}, "archived", True),
    ]:
        changed = (await alice.ok(event, {"cid": cid, **payload}))["conversation"]
        if value is None:
            assert changed[field].endswith("Z")
        else:
            assert changed[field] == value
        assert (await alice.next("prospect_update_conversation"))["conversation"] == changed
    await asyncio.sleep(0.2)
    assert [u for u in bob.received("prospect_update_conversation")] == []  # alice's own

    note = (await bob.ok("prospect_add_note", {"cid": cid, "content": "budget ok"}))["note"]
    assert note["author_id"] == bob.uid
    for user in (alice, bob, dave):
        assert (await user.next("prospect_note")) == {"note": note}
    edited = await dave.ok("prospect_edit_conversation", {"cid": cid, "title": "Dana (hot)"})
    assert edited["conversation"]["title"] == "Dana (hot)"
    for user in (alice, bob, dave):
        update = await user.next_where(
            "prospect_update_conversation", lambda u: u["conversation"]["title"] == "Dana (hot)"
        )
        assert update["conversation"]["_id"] == cid
    assert (await alice.ok("prospect_read", {"cid": cid, "message_id": ids[1]}))[
        "unread_count"
    ] == 0
    read = await bob.next("prospect_read")
    assert read == {"cid": cid, "user_id": alice.uid, "message_id": ids[1]}
    assert alice.received("counter") == [] and bob.received("new_message") == []


async def test_refusals_bad_payloads_outsiders_and_other_accounts(
    crm, server_database, team: Team
) -> None:
    alice = await team.connect(crm.url, "alice")
    cid = await start_conversation(crm, server_database, team, alice, [])
    for event, payload, field in [
        ("prospect_add_conversation", {"channel_id": "web"}, "contact_id"),
        ("prospect_add_conversation", {"contact_id": 1}, "channel_id"),
        ("prospect_message", {"cid": cid, "data": {}}, "data"),
        ("prospect_message", {"cid": cid, "data": "text"}, "data"),
        ("prospect_add_note", {"cid": cid, "content": "  "}, "content"),
        ("prospect_snooze", {"cid": cid, "value": True}, "until"),
        ("prospect_list_message", {"cid": "x"}, "cid"),
    ]:
        assert failed(await alice.call(event, payload), "VALIDATION_ERROR")["errors"][field]
    outsider = await team.connect(crm.url, "eve")
    failed(await outsider.call("prospect_get_conversation_by_id", {"cid": cid}), "FORBIDDEN")
    failed(await outsider.call("prospect_message", {"cid": cid, "data": {"x": 1}}), "FORBIDDEN")
    stranger = await team.connect(crm.url, "mallory", account=unique("other"))
    failed(await stranger.call("prospect_list_message", {"cid": cid}), "NOT_FOUND")
    contact = contact_create(server_database, team.account, "Not yours")
    ask = {"contact_id": contact, "channel_id": "web"}
    failed(await stranger.call("prospect_add_conversation", ask), "NOT_FOUND")
    assert (await alice.call("prospect_get_conversation_by_id", {"cid": cid}))["success"]


async def test_participants_without_a_live_socket_get_a_push(
    crm, server_database, fcm, team: Team
) -> None:
    alice = await team.connect(crm.url, "alice")
    away = await team.connect(crm.url, "away", namespace="/v1/shared")
    device = f"device-of-{away.uid}"
    assert await away.ok("register_device", {"token": device, "platform": "ios"})
    cid = await start_conversation(crm, server_database, team, alice, [])
    await alice.ok("prospect_add_participant", {"cid": cid, "users": [away.uid]})
    await away.close()
    for _ in range(50):  # until the registry has seen the socket go
        if not (await rest(crm.url, "GET", f"/online/{away.uid}")).json()["online"]:
            break
        await asyncio.sleep(0.05)
    await alice.ok("prospect_message", {"cid": cid, "data": {"content": "call me"}})

    def pushed() -> list:
        with fcm.state.lock:
            return [m for m in fcm.state.sent if m.token == device]

    assert await asyncio.to_thread(wait_until, pushed, 5)
    push = pushed()[0].body["message"]
    assert push["notification"] == {"title": "Dana Lead", "body": "call me"}
    assert push["data"]["type"] == "prospect_message" and push["data"]["conversation_id"] == cid
