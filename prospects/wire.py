"""The wire shapes of prospect conversations: conversations, communications, notes."""

from __future__ import annotations

from typing import Any

from conversations import wire as team_wire
from conversations.wire import conversation_ids, iso

from .models import Communication, Contact, ConversationProspect, Note, ProspectParticipant


def contact_wire(contact: Contact) -> dict[str, Any]:
    return {
        "_id": str(contact.pk),
        "name": contact.name,
        "email": contact.email,
        "phone": contact.phone,
        "image": contact.image,
    }


def conversation_wire(
    conversation: ConversationProspect, users: list[str], participant: ProspectParticipant
) -> dict[str, Any]:
    """A prospect conversation as `participant`'s user sees it: the team's shape, with the
    contact after `channel_id`."""
    about = {
        "contact_id": str(conversation.contact_id),
        "contact": contact_wire(conversation.contact),
    }
    return team_wire.conversation_wire(conversation, users, participant, about=about)


def visitor_conversation_wire(conversation: ConversationProspect) -> dict[str, Any]:
    """What a live-chat visitor sees of its conversation: no staff state, no notes."""
    return {
        **conversation_ids(conversation),
        "title": conversation.title,
        "image": conversation.image,
        "last_activity": iso(conversation.last_activity),
    }


def communication_wire(
    communication: Communication, *, cid: int, is_sender: bool = False
) -> dict[str, Any]:
    """`prospect_message`: a communication as one conversation's participant receives it."""
    return {
        "_id": str(communication.pk),
        "type": communication.type,
        "data": communication.data,
        "sent_by": communication.sent_by,
        "conversation_id": str(cid),
        "is_sender": is_sender,
        "client_msg_id": communication.client_msg_id,
        "created_at": iso(communication.created_at),
    }


def note_wire(note: Note) -> dict[str, Any]:
    return {
        "_id": str(note.pk),
        "conversation_id": str(note.conversation_id),
        "author_id": note.author_id,
        "content": note.content,
        "created_at": iso(note.created_at),
    }
