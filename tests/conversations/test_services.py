"""Conversation services and selectors against the database: state, counters, events sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations import selectors, services
from conversations.models import Message, Participant
from realtime.emit import Emitted
from realtime.envelope import Forbidden, NotFound

# real commits: the services' events go out from `transaction.on_commit`
pytestmark = pytest.mark.django_db(transaction=True)

A = {"uid": "alice", "account_id": "acme"}
B = {"uid": "bob", "account_id": "acme"}
C = {"uid": "carol", "account_id": "acme"}
TEAM = "/v1/conversation"


def on_team(emitted: list[Emitted], event: str) -> list[Emitted]:
    return [e for e in emitted if e.event == event and e.namespace == TEAM]


def create(users: list[str] = ["bob", "carol"], **fields) -> int:  # noqa: B006
    return int(services.conversation_create(**A, users=users, **fields)["_id"])


def send(cid: int, who: dict, content: str = "hi", **fields) -> dict:
    message, _ = services.message_send(cid=cid, **who, content=content, **fields)
    return message


def unread(cid: int) -> dict[str, int]:
    return dict(Participant.objects.filter(conversation_id=cid).values_list("uid", "unread_count"))


def test_create_sends_add_conversation_once_to_every_participant(emitted) -> None:
    conversation = services.conversation_create(**A, users=["bob", "carol", "bob"], title="Ops")
    assert conversation["users"] == ["alice", "bob", "carol"]
    assert conversation["created_by"] == "alice" and conversation["title"] == "Ops"
    assert conversation["unread_count"] == 0 and conversation["is_open"] is True
    sent = on_team(emitted, "add_conversation")
    assert len(sent) == 1  # one packet, encoded once, for every room
    assert sent[0].to == ("user:alice", "user:bob", "user:carol")
    assert sent[0].args == ({"conversation": conversation},)
    assert {e.namespace for e in emitted} == {TEAM, "/v1/conversation/live"}


def test_message_raises_the_others_counts_and_tells_each_their_own(emitted) -> None:
    cid = create()
    send(cid, A)
    send(cid, A)
    message = send(cid, B, "yo")
    assert unread(cid) == {"alice": 1, "bob": 2, "carol": 3}
    new = on_team(emitted, "new_message")
    assert new[-1].args == ({"message": message},)
    assert set(new[-1].to) == {"user:alice", "user:bob", "user:carol"}
    last_counters = {e.to: e.args[0] for e in on_team(emitted, "counter")[-2:]}
    assert last_counters == {
        ("user:alice",): {"cid": str(cid), "unread_count": 1, "total_unread": 1},
        ("user:carol",): {"cid": str(cid), "unread_count": 3, "total_unread": 3},
    }


def test_total_unread_spans_the_users_conversations_of_the_account(emitted) -> None:
    first, second = create(), create()
    send(first, A)
    send(second, A)
    services.conversation_create(uid="alice", account_id="other", users=["bob"])
    assert selectors.unread_totals(uids=["bob", "carol"], account_id="acme") == {
        "bob": 2,
        "carol": 2,
    }
    assert on_team(emitted, "counter")[-1].args[0]["total_unread"] == 2


def test_duplicate_client_msg_id_returns_the_stored_message_and_sends_nothing(emitted) -> None:
    cid = create()
    first, created = services.message_send(cid=cid, **B, content="x", client_msg_id="m-1")
    before = len(emitted)
    again, created_again = services.message_send(cid=cid, **B, content="y", client_msg_id="m-1")
    assert created and not created_again
    assert again == first
    assert len(emitted) == before
    assert unread(cid) == {"alice": 1, "bob": 0, "carol": 1}
    # the same id from another sender is another message
    other, created_other = services.message_send(cid=cid, **C, content="z", client_msg_id="m-1")
    assert created_other and other["_id"] != first["_id"]


def test_read_zeroes_the_readers_count_and_tells_the_participants(emitted) -> None:
    cid = create()
    send(cid, A)
    last = send(cid, A)
    assert services.conversation_read(cid=cid, **B) == {"cid": str(cid), "unread_count": 0}
    assert unread(cid)["bob"] == 0
    reader = Participant.objects.get(conversation_id=cid, uid="bob")
    assert str(reader.last_read_message_id) == last["_id"]
    read = on_team(emitted, "read")[-1]
    assert read.args[0] == {"cid": str(cid), "user_id": "bob", "message_id": last["_id"]}
    counter = on_team(emitted, "counter")[-1]
    assert counter.to == ("user:bob",)
    assert counter.args[0]["unread_count"] == 0
    # reading again never goes below zero
    services.conversation_read(cid=cid, **B)
    assert unread(cid)["bob"] == 0


def test_read_of_a_message_of_another_conversation_is_not_found() -> None:
    cid, other = create(), create()
    foreign = send(other, A)
    with pytest.raises(NotFound):
        services.conversation_read(cid=cid, **B, message_id=int(foreign["_id"]))


def test_unread_count_cannot_be_stored_below_zero() -> None:
    cid = create()
    with pytest.raises(IntegrityError), transaction.atomic():
        Participant.objects.filter(conversation_id=cid, uid="bob").update(unread_count=-1)


def test_non_participant_is_forbidden_and_other_accounts_see_nothing() -> None:
    cid = services.conversation_create(**A, users=["bob"])["_id"]
    with pytest.raises(Forbidden):
        services.message_send(cid=int(cid), **C, content="let me in")
    with pytest.raises(NotFound):
        selectors.conversation_get(cid=int(cid), uid="alice", account_id="elsewhere")
    with pytest.raises(NotFound):
        selectors.conversation_get(cid=999_999, **A)
    assert not Message.objects.filter(sender_id="carol").exists()


def test_own_state_changes_reach_the_actor_only(emitted) -> None:
    cid = create()
    until = timezone.now() + dt.timedelta(hours=1)
    snoozed = services.participant_state_set(cid=cid, **B, action="snooze", value=True, until=until)
    assert snoozed["snoozed_until"].endswith("Z")
    pinned = services.participant_state_set(cid=cid, **B, action="show_on_top", value=True)
    closed = services.participant_state_set(cid=cid, **B, action="open", value=False)
    archived = services.participant_state_set(cid=cid, **B, action="archive", value=True)
    assert pinned["show_on_top"] and not closed["is_open"] and archived["archived"]
    updates = on_team(emitted, "update_conversation")
    assert [e.to for e in updates] == [("user:bob",)] * 4
    assert selectors.conversation_get(cid=cid, **A)["archived"] is False  # others unchanged


def test_add_participant_and_edit_send_each_member_their_own_state(emitted) -> None:
    cid = create(users=["bob"])
    send(cid, A)  # bob has 1 unread, alice 0: two different states
    emitted.clear()
    conversation = services.conversation_add_participants(cid=cid, **A, users=["carol", "bob"])
    assert conversation["users"] == ["alice", "bob", "carol"]
    added = on_team(emitted, "add_conversation")
    assert [e.to for e in added] == [("user:carol",)]
    updates = {
        e.to: e.args[0]["conversation"]["unread_count"]
        for e in on_team(emitted, "update_conversation")
    }
    assert updates == {("user:alice",): 0, ("user:bob",): 1}
    emitted.clear()
    edited = services.conversation_edit(cid=cid, **C, title="Renamed")
    assert edited["title"] == "Renamed"
    rooms = [room for e in on_team(emitted, "update_conversation") for room in e.to]
    assert sorted(rooms) == ["user:alice", "user:bob", "user:carol"]


def test_list_pages_filters_and_counters() -> None:
    cids = [create(channel_id="web" if n % 2 else "") for n in range(5)]
    for cid in cids:
        send(cid, A, f"m{cid}")
    services.participant_state_set(cid=cids[0], **B, action="show_on_top", value=True)
    services.participant_state_set(cid=cids[1], **B, action="archive", value=True)
    services.participant_state_set(cid=cids[2], **B, action="open", value=False)
    listing = selectors.conversation_list(**B, page=1, limit=2)
    assert listing["paging"] == {"page": 1, "limit": 2, "total": 4}  # archived left out
    ids = [c["_id"] for c in listing["conversation"]]
    assert ids == [str(cids[0]), str(cids[4])]  # pinned first, then the most recent
    assert listing["messageList"][str(cids[0])][-1]["content"] == f"m{cids[0]}"
    assert selectors.conversation_list(**B, status="archived")["paging"]["total"] == 1
    assert selectors.conversation_list(**B, status="closed")["paging"]["total"] == 1
    assert selectors.conversation_list(**B, channel_id="web")["paging"]["total"] == 1
    assert selectors.conversation_list(**B, search="alice")["paging"]["total"] == 4
    counters = selectors.conversation_counters(**B)
    assert counters == {
        "total_unread": 5,
        "unread_conversations": 5,
        "open": 3,
        "closed": 1,
        "snoozed": 0,
        "archived": 1,
    }


def test_message_pages_walk_back_and_centre_on_an_id() -> None:
    cid = create()
    ids = [int(send(cid, A, f"m{n}")["_id"]) for n in range(25)]
    page = selectors.message_page(cid=cid, **B, limit=10)
    assert [int(m["_id"]) for m in page["messages"]] == ids[-10:]
    assert page["paging"]["has_more"] and page["paging"]["next_before"] == str(ids[-10])
    older = selectors.message_page(cid=cid, **B, before=ids[-10], limit=10)
    assert [int(m["_id"]) for m in older["messages"]] == ids[-20:-10]
    around = selectors.message_around(cid=cid, **B, message_id=ids[12], limit=5)
    assert [int(m["_id"]) for m in around["messages"]] == ids[10:15]
    assert around["paging"]["has_before"] and around["paging"]["has_after"]
