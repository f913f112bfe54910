"""The wire shapes of contract §5: conversations and messages as clients receive them."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .models import Conversation, Message, Participant

# the part of a conversation that is the receiving user's own
OWN_STATE = ("is_open", "snoozed_until", "archived", "show_on_top", "unread_count")


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a `Z`, like JavaScript's `toISOString()`."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def own_state(participant: Participant) -> dict[str, Any]:
    return {
        "is_open": participant.is_open,
        "snoozed_until": iso(participant.snoozed_until),
        "archived": participant.archived,
        "show_on_top": participant.show_on_top,
        "unread_count": participant.unread_count,
    }


def conversation_wire(
    conversation: Conversation, users: list[str], participant: Participant
) -> dict[str, Any]:
    """A conversation as `participant`'s user sees it."""
    return {
        "_id": str(conversation.pk),
        "account_id": conversation.account_id,
        "channel_id": conversation.channel_id or None,
        "title": conversation.title,
        "image": conversation.image,
        "users": users,
        "created_by": conversation.created_by,
        "last_activity": iso(conversation.last_activity),
        **own_state(participant),
    }


def message_wire(message: Message) -> dict[str, Any]:
    return {
        "_id": str(message.pk),
        "conversation_id": str(message.conversation_id),
        "sender_id": message.sender_id,
        "content": message.content,
        "attachments": message.attachments,
        "client_msg_id": message.client_msg_id,
        "created_at": iso(message.created_at),
    }
