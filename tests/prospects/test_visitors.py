"""Live-chat visitor services: their own conversation only, INCOMING messages, reads, tokens."""

from __future__ import annotations

import jwt
import pytest

from prospects import communications, services, visitors
from prospects.models import Communication, Contact, ConversationProspect, ProspectParticipant
from realtime.auth import verify_token
from realtime.envelope import Forbidden, NotFound

pytestmark = pytest.mark.django_db(transaction=True)

LIVE = "/v1/conversation/live"


@pytest.fixture
def conversation() -> ConversationProspect:
    contact = Contact.objects.create(account_id="acme", name="Vic Visitor")
    created = services.conversation_create(
        uid="alice", account_id="acme", contact_id=contact.pk, channel_id="site", users=["bob"]
    )
    return ConversationProspect.objects.get(pk=created["_id"])


def visitor(conversation: ConversationProspect, visitor_id: str = "v1") -> dict[str, str]:
    return {
        "visitor_id": visitor_id,
        "account_id": conversation.account_id,
        "conversation_id": str(conversation.pk),
    }


def test_join_shows_the_visitor_its_conversation_without_staff_state(conversation) -> None:
    joined = visitors.visitor_join(**visitor(conversation))
    assert joined["visitor_id"] == "v1"
    assert joined["conversation"]["_id"] == str(conversation.pk)
    assert "unread_count" not in joined["conversation"] and "users" not in joined["conversation"]
    assert joined["messages"] == []
    assert list(conversation.visitors.values_list("visitor_id", flat=True)) == ["v1"]


def test_any_other_conversation_is_forbidden_existing_or_not(conversation) -> None:
    other = ConversationProspect.objects.create(
        account_id="acme", contact=conversation.contact, channel_id="other", created_by="alice"
    )
    me = visitor(conversation)
    with pytest.raises(Forbidden):
        visitors.visitor_join(**me, cid=other.pk)
    with pytest.raises(Forbidden):
        visitors.visitor_message(**me, cid=other.pk, content="hi")
    with pytest.raises(Forbidden):
        visitors.visitor_read(**me, cid=10**12)
    wrong_account = {**me, "account_id": "elsewhere"}
    with pytest.raises(Forbidden):
        visitors.visitor_join(**wrong_account)
    with pytest.raises(Forbidden):
        visitors.visitor_join(**{**me, "conversation_id": "not-a-number"})
    assert not Communication.objects.exists()


def test_visitor_message_is_incoming_and_raises_every_participants_count(
    emitted, conversation
) -> None:
    visitors.visitor_join(**visitor(conversation))
    message, created = visitors.visitor_message(
        **visitor(conversation), cid=conversation.pk, content="hello?"
    )
    assert created and message["type"] == "INCOMING" and message["is_sender"] is True
    assert message["sent_by"] == str(conversation.contact_id)
    assert message["data"] == {"content": "hello?", "attachments": []}
    counts = dict(
        ProspectParticipant.objects.filter(conversation=conversation).values_list(
            "uid", "unread_count"
        )
    )
    assert counts == {"alice": 1, "bob": 1}
    staff = [e for e in emitted if e.event == "prospect_message" and e.namespace != LIVE]
    assert [e.to for e in staff] == [("user:alice", "user:bob")]
    assert staff[0].args[0]["is_sender"] is False
    to_visitor = [e for e in emitted if e.to == ("visitor:v1",)]
    assert [(e.event, e.namespace, e.args[0]["is_sender"]) for e in to_visitor] == [
        ("prospect_message", LIVE, True)
    ]


def test_staff_replies_reach_every_visitor_seen(emitted, conversation) -> None:
    visitors.visitor_join(**visitor(conversation, "v1"))
    visitors.visitor_join(**visitor(conversation, "v2"))
    reply, _ = communications.communication_send(
        cid=conversation.pk, uid="bob", account_id="acme", data={"content": "hi there"}
    )
    to_visitors = [e for e in emitted if e.event == "prospect_message" and e.namespace == LIVE]
    to_visitors = [e for e in to_visitors if e.to[0].startswith("visitor:")]
    assert [e.to for e in to_visitors] == [("visitor:v1", "visitor:v2")]
    assert to_visitors[0].args[0] == {**reply, "is_sender": False}


def test_visitor_read_is_stored_and_told_to_the_participants(emitted, conversation) -> None:
    reply, _ = communications.communication_send(
        cid=conversation.pk, uid="bob", account_id="acme", data={"content": "hi"}
    )
    me = visitor(conversation)
    read = visitors.visitor_read(**me, cid=conversation.pk)
    assert read == {"cid": str(conversation.pk), "unread_count": 0}
    conversation.refresh_from_db()
    assert str(conversation.contact_last_read_id) == reply["_id"]
    sent = [e for e in emitted if e.event == "prospect_read"][-1]
    assert sent.args[0] == {
        "cid": str(conversation.pk),
        "user_id": "visitor:v1",
        "message_id": reply["_id"],
    }
    with pytest.raises(NotFound):
        visitors.visitor_read(**me, cid=conversation.pk, message_id=10**12)


def test_visitor_token_names_the_contact_and_its_conversation(conversation) -> None:
    minted = visitors.visitor_token_create(
        contact_id=conversation.contact_id, conversation_id=conversation.pk, ttl=120
    )
    claims = verify_token(minted["token"])
    assert claims["type"] == "visitor" and claims["visitor_id"] == str(conversation.contact_id)
    assert claims["account_id"] == "acme" and claims["conversation_id"] == str(conversation.pk)
    assert jwt.get_unverified_header(minted["token"])["alg"] == "HS256"
    assert minted["expires_at"].endswith("Z")
    other = Contact.objects.create(account_id="acme", name="Someone else")
    with pytest.raises(NotFound):
        visitors.visitor_token_create(contact_id=other.pk, conversation_id=conversation.pk, ttl=60)
