"""Prospect services and selectors against the database: state, counters, events sent."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from prospects import communications, selectors, services
from prospects.models import Communication, Contact, ProspectParticipant
from realtime.emit import Emitted
from realtime.envelope import Forbidden, NotFound
from tests.support.locking import another_transaction_raises

# real commits: the services' events go out from `transaction.on_commit`
pytestmark = pytest.mark.django_db(transaction=True)

A = {"uid": "alice", "account_id": "acme"}
B = {"uid": "bob", "account_id": "acme"}
C = {"uid": "carol", "account_id": "acme"}
TEAM = "/v1/conversation"
LIVE = "/v1/conversation/live"


@pytest.fixture
def contact() -> Contact:
    return Contact.objects.create(account_id="acme", name="Dana Lead", image="dana.png")


def on_team(emitted: list[Emitted], event: str) -> list[Emitted]:
    return [e for e in emitted if e.event == event and e.namespace == TEAM]


def create(contact: Contact, users: list[str] = ["bob", "carol"], **fields) -> int:  # noqa: B006
    created = services.conversation_create(
        **A,
        contact_id=contact.pk,
        channel_id=fields.pop("channel_id", "web"),
        users=users,
        **fields,
    )
    return int(created["_id"])


def send(cid: int, who: dict, text: str = "hi", **fields) -> dict:
    message, _ = communications.communication_send(cid=cid, **who, data={"content": text}, **fields)
    return message


def unread(cid: int) -> dict[str, int]:
    rows = ProspectParticipant.objects.filter(conversation_id=cid)
    return dict(rows.values_list("uid", "unread_count"))


def test_create_falls_back_to_the_contact_and_tells_every_participant(emitted, contact) -> None:
    conversation = services.conversation_create(
        **A, contact_id=contact.pk, channel_id="web", users=["bob", "carol", "bob"]
    )
    assert conversation["title"] == "Dana Lead" and conversation["image"] == "dana.png"
    assert conversation["users"] == ["alice", "bob", "carol"]
    assert conversation["contact"]["name"] == "Dana Lead"
    assert conversation["channel_id"] == "web" and conversation["unread_count"] == 0
    sent = on_team(emitted, "prospect_add_conversation")
    assert len(sent) == 1  # every participant shares one state: one packet
    assert sent[0].to == ("user:alice", "user:bob", "user:carol")
    assert sent[0].args == ({"conversation": conversation, "is_new": True},)
    assert {e.namespace for e in emitted} == {TEAM, LIVE}


def test_title_given_wins_and_one_conversation_per_contact_and_channel(emitted, contact) -> None:
    cid = create(contact, users=["bob"], title="Deal", image="deal.png")
    again = services.conversation_create(
        **C, contact_id=contact.pk, channel_id="web", users=["dave"]
    )
    assert int(again["_id"]) == cid and again["title"] == "Deal"
    assert again["users"] == ["alice", "bob", "carol", "dave"]
    added = on_team(emitted, "prospect_add_conversation")[-1]
    assert set(added.to) == {"user:carol", "user:dave"}
    assert added.args[0]["is_new"] is False
    updated = on_team(emitted, "prospect_update_conversation")[-1]
    assert set(updated.to) == {"user:alice", "user:bob"}
    before = len(on_team(emitted, "prospect_add_conversation"))
    services.conversation_create(**B, contact_id=contact.pk, channel_id="web")  # bob is in
    told = on_team(emitted, "prospect_add_conversation")[before:]
    assert [(e.to, e.args[0]["is_new"]) for e in told] == [(("user:bob",), False)]
    other_channel = create(contact, channel_id="email")
    assert other_channel != cid


def test_a_contact_of_another_account_is_not_found(contact) -> None:
    with pytest.raises(NotFound):
        services.conversation_create(
            uid="mallory", account_id="other", contact_id=contact.pk, channel_id="web"
        )


def test_outgoing_raises_the_others_counts_and_marks_the_sender(emitted, contact) -> None:
    cid = create(contact)
    send(cid, A)
    message = send(cid, B, "yo")
    assert message["type"] == "OUTGOING" and message["is_sender"] is True
    assert message["sent_by"] == "bob" and message["data"] == {"content": "yo"}
    assert unread(cid) == {"alice": 1, "bob": 1, "carol": 2}
    sent = {e.to: e.args[0] for e in on_team(emitted, "prospect_message")[-2:]}
    assert sent[("user:bob",)]["is_sender"] is True
    assert sent[("user:alice", "user:carol")] == {**message, "is_sender": False}
    counters = {e.to: e.args[0] for e in on_team(emitted, "prospect_counter")[-2:]}
    assert counters == {
        ("user:alice",): {"cid": str(cid), "unread_count": 1, "total_unread": 1},
        ("user:carol",): {"cid": str(cid), "unread_count": 2, "total_unread": 2},
    }
    assert on_team(emitted, "counter") == []  # the team's counters are untouched


def test_counters_never_mix_with_team_conversations(contact) -> None:
    from conversations import selectors as team_selectors
    from conversations import services as team_services

    cid = create(contact)
    send(cid, A)
    team = team_services.conversation_create(**A, users=["bob"])
    team_services.message_send(cid=int(team["_id"]), **A, content="team")
    team_services.message_send(cid=int(team["_id"]), **A, content="team")
    assert selectors.unread_totals(uids=["bob"], account_id="acme") == {"bob": 1}
    assert team_selectors.unread_totals(uids=["bob"], account_id="acme") == {"bob": 2}


def test_read_zeroes_the_readers_count_and_never_goes_below_zero(emitted, contact) -> None:
    cid = create(contact)
    send(cid, A)
    last = send(cid, A)
    assert services.conversation_read(cid=cid, **B) == {"cid": str(cid), "unread_count": 0}
    assert services.conversation_read(cid=cid, **B) == {"cid": str(cid), "unread_count": 0}
    assert unread(cid)["bob"] == 0 and unread(cid)["carol"] == 2
    reader = ProspectParticipant.objects.get(conversation_id=cid, uid="bob")
    assert str(reader.last_read_id) == last["_id"]
    read = on_team(emitted, "prospect_read")[-1]
    assert read.args[0] == {"cid": str(cid), "user_id": "bob", "message_id": last["_id"]}
    assert on_team(emitted, "prospect_counter")[-1].to == ("user:bob",)
    with pytest.raises(IntegrityError), transaction.atomic():
        ProspectParticipant.objects.filter(conversation_id=cid, uid="bob").update(unread_count=-1)


def test_duplicate_client_msg_id_returns_the_stored_message(emitted, contact) -> None:
    cid = create(contact)
    first = send(cid, B, "x", client_msg_id="m-1")
    before = len(emitted)
    again, created = communications.communication_send(
        cid=cid, **B, data={"content": "y"}, client_msg_id="m-1"
    )
    assert not created and again == first and len(emitted) == before
    assert unread(cid) == {"alice": 1, "bob": 0, "carol": 1}


def test_own_state_reaches_the_actor_only_and_lists_filter_by_it(emitted, contact) -> None:
    cid = create(contact)
    until = timezone.now() + dt.timedelta(hours=1)
    snoozed = services.participant_state_set(cid=cid, **B, action="snooze", value=True, until=until)
    assert snoozed["snoozed_until"].endswith("Z")
    services.participant_state_set(cid=cid, **C, action="archive", value=True)
    services.participant_state_set(cid=cid, **A, action="show_on_top", value=True)
    updates = on_team(emitted, "prospect_update_conversation")
    assert [u.to for u in updates] == [("user:bob",), ("user:carol",), ("user:alice",)]
    assert selectors.conversation_list(**B, status="snoozed")["paging"]["total"] == 1
    assert selectors.conversation_list(**B, status="open")["paging"]["total"] == 0
    assert selectors.conversation_list(**C)["paging"]["total"] == 0  # archived: hidden
    assert selectors.conversation_list(**C, status="archived")["paging"]["total"] == 1
    assert selectors.conversation_get(cid=cid, **A)["show_on_top"] is True
    counters = selectors.conversation_counters(**B)
    assert counters["snoozed"] == 1 and counters["open"] == 0


def test_list_searches_the_contact_and_carries_the_last_messages(contact) -> None:
    cid = create(contact)
    for n in range(7):
        send(cid, A, f"m{n}")
    listing = selectors.conversation_list(**B, search="dana")
    assert [c["_id"] for c in listing["conversation"]] == [str(cid)]
    texts = [m["data"]["content"] for m in listing["messageList"][str(cid)]]
    assert texts == ["m2", "m3", "m4", "m5", "m6"]
    assert selectors.conversation_list(**B, search="nobody")["conversation"] == []


def test_message_pages_and_centred_pages(contact) -> None:
    cid = create(contact)
    ids = [int(send(cid, A, f"m{n}")["_id"]) for n in range(10)]
    page = selectors.communication_page(cid=cid, **B, limit=4)
    assert [int(m["_id"]) for m in page["messages"]] == ids[-4:]
    assert page["paging"]["has_more"] is True
    older = selectors.communication_page(cid=cid, **B, before=ids[-4], limit=4)
    assert [int(m["_id"]) for m in older["messages"]] == ids[-8:-4]
    around = selectors.communication_around(cid=cid, **A, message_id=ids[5], limit=3)
    assert [int(m["_id"]) for m in around["messages"]] == ids[4:7]
    assert all(m["is_sender"] for m in around["messages"])  # alice sent them
    with pytest.raises(NotFound):
        selectors.communication_around(cid=cid, **A, message_id=10**12)


def test_participants_edit_and_notes_reach_the_participants(emitted, contact) -> None:
    cid = create(contact, users=["bob"])
    with_carol = services.conversation_add_participants(cid=cid, **A, users=["carol", "bob"])
    assert with_carol["users"] == ["alice", "bob", "carol"]
    added = on_team(emitted, "prospect_add_conversation")[-1]
    assert added.to == ("user:carol",) and added.args[0]["is_new"] is False
    edited = services.conversation_edit(cid=cid, **B, title="Renewal")
    assert edited["title"] == "Renewal"
    update = on_team(emitted, "prospect_update_conversation")[-1]
    assert update.args[0]["conversation"]["title"] == "Renewal" and len(update.to) == 3
    note = services.note_add(cid=cid, **C, content="call back friday")
    assert note["author_id"] == "carol" and note["conversation_id"] == str(cid)
    sent = on_team(emitted, "prospect_note")[-1]
    assert sent.args == ({"note": note},) and len(sent.to) == 3
    assert not [e for e in emitted if e.event == "prospect_note" and "visitor" in str(e.to)]


def test_outsiders_are_forbidden_and_other_accounts_see_nothing(contact) -> None:
    cid = create(contact, users=["bob"])
    with pytest.raises(Forbidden):
        send(cid, C)
    with pytest.raises(NotFound):
        selectors.conversation_get(cid=cid, uid="alice", account_id="elsewhere")
    with pytest.raises(Forbidden):
        services.note_add(cid=cid, **C, content="peek")
    assert not Communication.objects.filter(sent_by="carol").exists()


def test_rest_broadcasts_give_each_user_their_own_unread_count(contact) -> None:
    cid = create(contact)
    send(cid, A)
    send(cid, A)
    services.conversation_read(cid=cid, **C)
    broadcasts, push = communications.conversation_broadcasts(cid=cid, is_new=False)
    counts = {b.rooms: b.payload["conversation"]["unread_count"] for b in broadcasts}
    assert counts == {("user:alice", "user:carol"): 0, ("user:bob",): 2}  # one packet each
    assert all(b.payload["is_new"] is False for b in broadcasts) and push is None
    with pytest.raises(NotFound):
        communications.conversation_broadcasts(cid=10**12, is_new=True)


def test_rest_message_broadcast_reaches_every_conversation_of_the_message(contact) -> None:
    web = create(contact, users=["bob"])
    email = create(contact, users=["carol"], channel_id="email")
    message = send(web, B, "both")
    Communication.objects.get(pk=message["_id"]).conversations.add(email)
    broadcasts, push = communications.communication_broadcasts(message_id=int(message["_id"]))
    seen = {
        (room, b.payload["conversation_id"], b.payload["is_sender"])
        for b in broadcasts
        for room in b.rooms
    }
    assert seen == {
        ("user:bob", str(web), True),
        ("user:alice", str(web), False),
        ("user:alice", str(email), False),
        ("user:carol", str(email), False),
    }
    assert push is not None and sorted(push["uids"]) == ["alice", "carol"]
    with pytest.raises(NotFound):
        communications.communication_broadcasts(message_id=10**12)


def test_a_message_holds_its_users_rows_in_their_other_conversations_until_it_commits(
    contact,
) -> None:
    """As a batch of team messages does (tests/conversations/test_sending.py): a message reads
    each recipient's total after raising their counts, so nobody else may raise them
    elsewhere meanwhile (on PostgreSQL; SQLite has one writer at a time)."""
    first, second = create(contact), create(contact, channel_id="email")
    assert first != second
    with transaction.atomic():
        send(first, A)
        assert not another_transaction_raises(ProspectParticipant, second, "bob")
    assert another_transaction_raises(ProspectParticipant, second, "bob")
    assert unread(second)["bob"] == 1
