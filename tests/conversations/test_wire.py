"""Conversation wire shapes, team and prospect alike: exact keys, in order, and their values."""

from __future__ import annotations

import datetime as dt

import pytest

from conversations import wire
from conversations.models import Conversation, Participant
from prospects import wire as prospect_wire
from prospects.models import Contact, ConversationProspect, ProspectParticipant

WHEN = dt.datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=dt.UTC)
OWN = ["is_open", "snoozed_until", "archived", "show_on_top", "unread_count"]


def test_team_conversation_as_one_participant_sees_it() -> None:
    conversation = Conversation(pk=7, account_id="acme", title="Q", created_by="alice")
    conversation.last_activity = WHEN
    participant = Participant(uid="bob", unread_count=2, snoozed_until=WHEN)
    shown = wire.conversation_wire(conversation, ["alice", "bob"], participant)
    head = ["_id", "account_id", "channel_id", "title", "image", "users", "created_by"]
    assert list(shown) == [*head, "last_activity", *OWN]
    assert shown["_id"] == "7" and shown["channel_id"] is None
    assert shown["last_activity"] == shown["snoozed_until"] == "2026-01-02T03:04:05.678Z"
    assert shown["unread_count"] == 2 and shown["is_open"] is True


def test_prospect_conversation_has_the_contact_after_the_channel() -> None:
    contact = Contact(pk=3, account_id="acme", name="Dana")
    conversation = ConversationProspect(pk=9, account_id="acme", contact=contact, channel_id="web")
    conversation.last_activity = WHEN
    shown = prospect_wire.conversation_wire(conversation, ["alice"], ProspectParticipant())
    ids = ["_id", "account_id", "channel_id", "contact_id", "contact"]
    rest = ["title", "image", "users", "created_by", "last_activity"]
    assert list(shown) == [*ids, *rest, *OWN]
    assert shown["contact_id"] == "3" and shown["contact"]["name"] == "Dana"
    visitor = prospect_wire.visitor_conversation_wire(conversation)
    assert list(visitor) == ["_id", "account_id", "channel_id", "title", "image", "last_activity"]


def test_members_share_a_packet_only_when_their_own_state_is_the_same() -> None:
    alice, bob, carol = (Participant(uid=uid) for uid in ("alice", "bob", "carol"))
    bob.unread_count = 1
    assert [[m.uid for m in group] for group in wire.state_groups([alice, bob, carol])] == [
        ["alice", "carol"],
        ["bob"],
    ]


@pytest.mark.parametrize(
    ("shape", "expected"),
    [
        (wire.counter_wire(5, 1, 4), {"cid": "5", "unread_count": 1, "total_unread": 4}),
        (wire.read_wire(5, "bob", 12), {"cid": "5", "user_id": "bob", "message_id": "12"}),
        (wire.read_wire(5, "bob", None), {"cid": "5", "user_id": "bob", "message_id": None}),
        (wire.read_ack(5), {"cid": "5", "unread_count": 0}),
        (wire.typing_wire(5, "bob", True), {"cid": "5", "user_id": "bob", "is_typing": True}),
    ],
)
def test_small_event_shapes(shape, expected) -> None:
    assert shape == expected and list(shape) == list(expected)
