"""`/v1/conversation` end to end: real clients, a real server, every event of contract §5."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator

import httpx
import pytest

from tests.support.conversations import LIVE, Team, User, failed, unique
from tests.support.fcm_standin import FcmStandIn, firebase_env
from tests.support.servers import ServerProcess, wait_until
from tests.support.tokens import visitor_token

TYPING_TIMEOUT_S = 0.6
PRESENCE_GRACE_S = 0.3


@pytest.fixture(scope="module")
def chat(server_database: str, fcm: FcmStandIn, tmp_path_factory) -> Iterator[ServerProcess]:
    """A server with short typing and presence timings, pushing to the FCM stand-in."""
    env = {
        "TYPING_TIMEOUT_S": str(TYPING_TIMEOUT_S),
        "PRESENCE_GRACE_S": str(PRESENCE_GRACE_S),
        **firebase_env(fcm, tmp_path_factory.mktemp("fcm"), project_id="gs-chat"),
    }
    process = ServerProcess(env=env, database=server_database).start()
    yield process
    process.stop()


SHARED = "/v1/shared"


async def register_device(team: Team, url: str, name: str) -> User:
    """A user who registers a device on /v1/shared; returns the still connected socket."""
    user = await team.connect(url, name, namespace=SHARED)
    token = f"device-of-{user.uid}"
    assert await user.ok("register_device", {"token": token, "platform": "android"})
    return user


async def offline(url: str, uid: str) -> bool:
    async with httpx.AsyncClient() as http:
        return not (await http.get(f"{url}/online/{uid}")).json()["online"]


def pushed_to(fcm: FcmStandIn, token: str) -> list:
    with fcm.state.lock:
        return [message for message in fcm.state.sent if message.token == token]


async def test_three_users_end_to_end(chat, team: Team) -> None:
    alice, bob, carol = [await team.connect(chat.url, name) for name in ("alice", "bob", "carol")]
    joined = await alice.ok("join", {})
    assert joined == {"user_id": alice.uid, "status": "active"}
    status = await bob.next_where("active_status", lambda p: p["userID"] == alice.uid)
    assert status == {"userID": alice.uid, "conversation_active_status": "active"}

    # create: every participant hears of it
    created = await alice.ok(
        "add_conversation", {"users": [bob.uid, carol.uid], "title": "Launch", "channel_id": "web"}
    )
    conversation = created["conversation"]
    cid = conversation["_id"]
    assert conversation["users"] == [alice.uid, bob.uid, carol.uid]
    assert conversation["account_id"] == team.account and conversation["channel_id"] == "web"
    assert conversation["last_activity"].endswith("Z") and conversation["unread_count"] == 0
    for user in (alice, bob, carol):
        assert (await user.next("add_conversation"))["conversation"] == conversation

    # message: stored, then to every participant; the others' counters rise
    sent = await alice.ok("message", {"cid": cid, "content": "hello", "client_msg_id": "a1"})
    message = sent["message"]
    assert message["conversation_id"] == cid and message["sender_id"] == alice.uid
    assert message["content"] == "hello" and message["created_at"].endswith("Z")
    for user in (alice, bob, carol):
        assert (await user.next("new_message")) == {"message": message}
    for user in (bob, carol):
        assert (await user.next("counter")) == {"cid": cid, "unread_count": 1, "total_unread": 1}
    hi = (await bob.ok("message", {"conversation_id": cid, "content": "hi all"}))["message"]
    assert (await carol.next_where("counter", lambda c: c["unread_count"] == 2))["cid"] == cid
    assert (await alice.next("counter"))["unread_count"] == 1
    assert alice.received("counter") == []

    # typing: the others only, and it stops by itself
    assert await bob.ok("typing", {"cid": cid, "is_typing": True}) is None
    started = asyncio.get_running_loop().time()
    for user in (alice, carol):
        assert (await user.next("typing")) == {"cid": cid, "user_id": bob.uid, "is_typing": True}
    stopped = await alice.next("typing", timeout=TYPING_TIMEOUT_S + 3)
    assert stopped == {"cid": cid, "user_id": bob.uid, "is_typing": False}
    assert asyncio.get_running_loop().time() - started >= TYPING_TIMEOUT_S * 0.8
    assert (await carol.next("typing"))["is_typing"] is False
    assert bob.received("typing") == []

    # read: the reader's count goes to 0, everyone hears who read what
    read = await carol.ok("read", {"cid": cid})
    assert read == {"cid": cid, "unread_count": 0}
    assert (await carol.next("counter")) == {"cid": cid, "unread_count": 0, "total_unread": 0}
    for user in (alice, bob, carol):
        read_event = await user.next("read")
        assert read_event == {"cid": cid, "user_id": carol.uid, "message_id": hi["_id"]}

    # the user's own state: pin, snooze, archive, reopen; only their sockets hear of it
    pinned = (await bob.ok("show_on_top", {"cid": cid, "value": True}))["conversation"]
    assert pinned["show_on_top"] is True
    assert (await bob.next("update_conversation"))["conversation"] == pinned
    until = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=2)).isoformat()
    snoozed = (await bob.ok("snooze", {"cid": cid, "value": True, "until": until}))["conversation"]
    assert snoozed["snoozed_until"].endswith("Z")
    closed = (await bob.ok("open", {"cid": cid, "value": False}))["conversation"]
    assert closed["is_open"] is False
    archived = (await bob.ok("archive", {"cid": cid, "value": True}))["conversation"]
    assert archived["archived"] is True and archived["show_on_top"] is True
    listing = await bob.ok("list_conversation", {"filter": {"status": "archived"}})
    assert [c["_id"] for c in listing["conversation"]] == [cid]
    assert listing["messageList"][cid][-1]["content"] == "hi all"
    assert (await bob.ok("conversation_filter", {}))["paging"]["total"] == 0
    channel = await bob.ok("channel", {"channel_id": "web"})
    assert channel["counters"]["archived"] == 1 and channel["counters"]["total_unread"] == 1
    await asyncio.sleep(0.2)
    assert alice.received("update_conversation") == []
    assert (await alice.ok("get_conversation_by_id", {"cid": cid}))["conversation"][
        "archived"
    ] is False

    # add a participant: the newcomer gets add_conversation, the others update_conversation
    dave = await team.connect(chat.url, "dave")
    added = (await alice.ok("add_participant", {"cid": cid, "users": [dave.uid]}))["conversation"]
    assert added["users"] == [alice.uid, bob.uid, carol.uid, dave.uid]
    assert (await dave.next("add_conversation"))["conversation"]["unread_count"] == 0
    bob_view = (
        await bob.next_where(
            "update_conversation", lambda u: dave.uid in u["conversation"]["users"]
        )
    )["conversation"]
    assert bob_view["users"] == added["users"] and bob_view["archived"] is True  # bob's own state

    # edit: every participant, each with their own state
    edited = (await dave.ok("edit_conversation", {"cid": cid, "title": "Launch v2"}))[
        "conversation"
    ]
    assert edited["title"] == "Launch v2"
    for user in (alice, bob, carol, dave):
        update = await user.next_where(
            "update_conversation", lambda u: u["conversation"]["title"] == "Launch v2"
        )
        assert update["conversation"]["_id"] == cid
    pages = await dave.ok("list_message", {"cid": cid})
    assert [m["content"] for m in pages["messages"]] == ["hello", "hi all"]
    around = await dave.ok("list_message_by_id", {"cid": cid, "message_id": message["_id"]})
    assert around["messages"][0] == message


async def test_a_message_cut_inside_an_emoji_is_stored_with_a_replacement(chat, team: Team) -> None:
    """A client that cuts text between an emoji's two UTF-16 halves (`"👍".slice(0, 1)` in a
    browser) sends a lone surrogate, which JSON.stringify writes as an escape: the message is
    stored and delivered with U+FFFD in its place, and the socket stays connected."""
    alice, bob = await team.connect(chat.url, "alice"), await team.connect(chat.url, "bob")
    cid = (await alice.ok("add_conversation", {"users": [bob.uid]}))["conversation"]["_id"]
    cut = "thumbs \ud83d"  # the first half of U+1F44D; the client's json.dumps escapes it
    sent = (await alice.ok("message", {"cid": cid, "content": cut}))["message"]
    assert sent["content"] == "thumbs \ufffd"
    assert (await bob.next("new_message"))["message"] == sent
    again = await alice.ok("message", {"cid": cid, "content": "still here \U0001f44d"})
    assert again["message"]["content"] == "still here \U0001f44d"
    pages = await bob.ok("list_message", {"cid": cid})
    assert [m["content"] for m in pages["messages"]] == ["thumbs \ufffd", "still here \U0001f44d"]


async def test_typing_stops_when_the_typist_disconnects(chat, team: Team) -> None:
    alice, bob = await team.connect(chat.url, "alice"), await team.connect(chat.url, "bob")
    cid = (await alice.ok("add_conversation", {"users": [bob.uid]}))["conversation"]["_id"]
    await bob.ok("typing", {"cid": cid, "is_typing": True})
    assert (await alice.next("typing"))["is_typing"] is True
    await bob.close()
    stopped = await alice.next("typing", timeout=TYPING_TIMEOUT_S / 2)  # before the timeout
    assert stopped == {"cid": cid, "user_id": bob.uid, "is_typing": False}


async def test_presence_and_active_status_reach_the_account(chat, team: Team) -> None:
    alice = await team.connect(chat.url, "alice")
    bob = await team.connect(chat.url, "bob")
    online = await alice.next_where("active_status", lambda p: p["userID"] == bob.uid)
    assert online == {"userID": bob.uid, "conversation_active_status": "active"}
    assert await bob.ok("active_status", {"status": "away"}) == {"status": "away"}
    away = await alice.next_where("active_status", lambda p: p["userID"] == bob.uid)
    assert away["conversation_active_status"] == "away"
    await bob.close()
    gone = await alice.next_where("active_status", lambda p: p["userID"] == bob.uid, timeout=5)
    assert gone == {"userID": bob.uid, "conversation_active_status": "inactive"}
    outsider = await team.connect(chat.url, "eve", account=unique("other"))
    await outsider.ok("join", {})
    await asyncio.sleep(0.3)
    assert [p for p in alice.received("active_status") if p["userID"] == outsider.uid] == []


async def test_staff_on_live_hear_team_events_and_visitors_are_kept_out(chat, team: Team) -> None:
    alice = await team.connect(chat.url, "alice")
    staff = await team.connect(chat.url, "bob", namespace=LIVE)
    cid = (await alice.ok("add_conversation", {"users": [staff.uid]}))["conversation"]["_id"]
    await alice.ok("message", {"cid": cid, "content": "live too"})
    assert (await staff.next("new_message"))["message"]["content"] == "live too"
    token = visitor_token(unique("v"), team.account, cid)
    guest = await team.connect(chat.url, "visitor", namespace=LIVE, token=token)
    failed(await guest.call("list_conversation", {}), "FORBIDDEN")
    failed(await guest.call("message", {"cid": cid, "content": "hi"}), "FORBIDDEN")


async def test_participants_without_a_live_socket_get_a_push(chat, fcm, team: Team) -> None:
    alice = await team.connect(chat.url, "alice")
    away = await register_device(team, chat.url, "away")
    here = await register_device(team, chat.url, "here")
    await away.close()
    for _ in range(50):  # until the registry has seen the socket go
        if await offline(chat.url, away.uid):
            break
        await asyncio.sleep(0.05)
    created = await alice.ok("add_conversation", {"users": [away.uid, here.uid], "title": "Ops"})
    cid = created["conversation"]["_id"]
    await alice.ok("message", {"cid": cid, "content": "wake up"})
    device = f"device-of-{away.uid}"
    assert await asyncio.to_thread(wait_until, lambda: pushed_to(fcm, device), 5)
    push = pushed_to(fcm, device)[0]
    assert push.body["message"]["notification"] == {"title": "Ops", "body": "wake up"}
    assert push.body["message"]["data"]["conversation_id"] == cid
    await asyncio.sleep(0.3)
    assert pushed_to(fcm, f"device-of-{here.uid}") == []  # online: no push
    assert pushed_to(fcm, f"device-of-{alice.uid}") == []


async def test_paging_through_500_messages(chat, team: Team) -> None:
    alice, bob = await team.connect(chat.url, "alice"), await team.connect(chat.url, "bob")
    cid = (await alice.ok("add_conversation", {"users": [bob.uid]}))["conversation"]["_id"]
    sent = []
    for batch in range(0, 500, 50):  # pipelined, in batches that each ack well in time
        acks = await asyncio.gather(
            *(
                alice.ok("message", {"cid": cid, "content": f"m{n}"})
                for n in range(batch, batch + 50)
            )
        )
        sent += [ack["message"] for ack in acks]
    assert [m["content"] for m in sent] == [f"m{n}" for n in range(500)]  # stored in order
    pages, before = [], None
    while True:
        page = await bob.ok("list_message", {"cid": cid, "before": before, "limit": 100})
        pages.append(page["messages"])
        if not page["paging"]["has_more"]:
            break
        before = page["paging"]["next_before"]
    assert len(pages) == 5 and all(len(page) == 100 for page in pages)
    walked = [message for page in reversed(pages) for message in page]
    assert walked == sent
    assert page["conversation"]["unread_count"] == 500
    middle = sent[250]["_id"]
    around = await bob.ok("list_message_by_id", {"cid": cid, "message_id": middle, "limit": 11})
    assert [m["content"] for m in around["messages"]] == [f"m{n}" for n in range(245, 256)]
    assert around["paging"]["has_before"] and around["paging"]["has_after"]
    counters = await bob.next_where("counter", lambda c: c["unread_count"] == 500, timeout=10)
    assert counters["total_unread"] == 500
