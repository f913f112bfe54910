"""Conversations across two server instances sharing rooms through a real redis."""

from __future__ import annotations

import asyncio

import pytest
import redis

from conversations.events import NAMESPACES, user_room
from realtime.groups import group_name
from tests.support.conversations import Team
from tests.support.tokens import user_token

pytestmark = pytest.mark.redis

PRESENCE_GRACE_S = 0.3


async def test_messages_typing_and_counters_cross_instances(
    redis_server, server_factory, team: Team
) -> None:
    env = {"REDIS_URL": redis_server.url, "PRESENCE_GRACE_S": str(PRESENCE_GRACE_S)}
    first, second = server_factory(**env), server_factory(**env)
    alice = await team.connect(first.url, "alice")
    bob = await team.connect(second.url, "bob")
    carol = await team.connect(second.url, "carol")
    carol_tab = await team.connect(
        first.url, "carol-tab", token=user_token(carol.uid, team.account)
    )

    created = await alice.ok("add_conversation", {"users": [bob.uid, carol.uid]})
    cid = created["conversation"]["_id"]
    assert (await bob.next("add_conversation"))["conversation"]["_id"] == cid

    message = (await alice.ok("message", {"cid": cid, "content": "across"}))["message"]
    for user in (bob, carol, carol_tab):  # on the other instance, and on both for carol
        assert (await user.next("new_message")) == {"message": message}
        assert (await user.next("counter"))["unread_count"] == 1

    await bob.ok("typing", {"cid": cid, "is_typing": True})
    typing = await alice.next("typing")
    assert typing == {"cid": cid, "user_id": bob.uid, "is_typing": True}

    # both instances write at once: no increment is lost
    sends = [alice.ok("message", {"cid": cid, "content": f"a{n}"}) for n in range(20)]
    sends += [bob.ok("message", {"cid": cid, "content": f"b{n}"}) for n in range(20)]
    await asyncio.gather(*sends)
    final = await carol_tab.next_where("counter", lambda c: c["unread_count"] == 41, timeout=10)
    assert final == {"cid": cid, "unread_count": 41, "total_unread": 41}
    seen = await carol.ok("get_conversation_by_id", {"cid": cid})
    assert seen["conversation"]["unread_count"] == 41
    alice_view = await alice.ok("get_conversation_by_id", {"cid": cid})
    assert alice_view["conversation"]["unread_count"] == 20  # bob's

    # carol closes one tab: still online through the other instance
    await carol_tab.close()
    await asyncio.sleep(PRESENCE_GRACE_S + 0.7)
    heard = [s for s in alice.received("active_status") if s["userID"] == carol.uid]
    assert all(s["conversation_active_status"] == "active" for s in heard), heard
    await carol.close()
    gone = await alice.next_where(
        "active_status",
        lambda s: s["userID"] == carol.uid and s["conversation_active_status"] == "inactive",
    )
    assert gone == {"userID": carol.uid, "conversation_active_status": "inactive"}


async def test_a_message_crosses_to_the_other_instance_in_one_layer_message_per_namespace(
    redis_server, server_factory, team: Team
) -> None:
    """A message's events (a `new_message` to each participant's room, a `counter` to each
    other one's, on both team namespaces) reach the other instance as one layer message per
    namespace (realtime.hub.Hub.broadcast_many), not one per room."""
    env = {"REDIS_URL": redis_server.url}
    first, second = server_factory(**env), server_factory(**env)
    alice = await team.connect(first.url, "alice")
    others = [await team.connect(second.url, f"member{n}") for n in range(6)]
    created = await alice.ok("add_conversation", {"users": [user.uid for user in others]})
    cid = created["conversation"]["_id"]
    for user in others:
        await user.next("add_conversation")
    client = redis.Redis.from_url(redis_server.url)
    watcher = client.pubsub()
    watcher.psubscribe("*__group__*")  # every group send (PUBLISH) from now on
    assert watcher.get_message(timeout=5)["type"] == "psubscribe"

    message = (await alice.ok("message", {"cid": cid, "content": "to six elsewhere"}))["message"]
    for user in others:
        assert (await user.next("new_message")) == {"message": message}
        assert (await user.next("counter")) == {"cid": cid, "unread_count": 1, "total_unread": 1}

    sent = []
    while (heard := watcher.get_message(timeout=0.5)) is not None:
        sent.append(heard["channel"].decode().partition("__group__")[2])
    watcher.close()
    client.close()
    whole = {group_name(namespace, None) for namespace in NAMESPACES}
    rooms = {
        group_name(namespace, user_room(user.uid))
        for namespace in NAMESPACES
        for user in [alice, *others]
    }
    # one each would be 26 (7 rooms and 6 on two namespaces); other group sends (presence,
    # another test's server) may fall in between, but not to these groups
    assert sorted(group for group in sent if group in whole) == sorted(whole), sent
    assert [group for group in sent if group in rooms] == [], sent
