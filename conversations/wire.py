"""The wire shapes of contract §5: conversations and messages as clients receive them."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any, Protocol, TypeVar

from .participation import ParticipantState

P = TypeVar("P", bound=ParticipantState)

# the part of a conversation that is the receiving user's own
OWN_STATE = ("is_open", "snoozed_until", "archived", "show_on_top", "unread_count")


def iso(value: dt.datetime | None) -> str | None:
    """ISO 8601 in UTC with milliseconds and a `Z`, like JavaScript's `toISOString()`."""
    if value is None:
        return None
    return value.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ConversationRow(Protocol):
    """What a conversation's wire shape reads: a team or a prospect conversation."""

    pk: Any
    account_id: str
    channel_id: str
    title: str
    image: str
    created_by: str
    last_activity: dt.datetime


def str_or_none(value: int | None) -> str | None:
    return None if value is None else str(value)


def own_state(participant: ParticipantState) -> dict[str, Any]:
    return {
        "is_open": participant.is_open,
        "snoozed_until": iso(participant.snoozed_until),
        "archived": participant.archived,
        "show_on_top": participant.show_on_top,
        "unread_count": participant.unread_count,
    }


def state_groups(members: Iterable[P]) -> list[list[P]]:
    """`members` grouped by their own state as it goes on the wire (unread count and flags):
    every member of a group sees the same conversation, so one encoded packet serves it."""
    groups: dict[tuple[Any, ...], list[P]] = defaultdict(list)
    for member in members:
        groups[tuple(own_state(member).values())].append(member)
    return list(groups.values())


def conversation_ids(conversation: ConversationRow) -> dict[str, Any]:
    """The conversation's id, account and channel (no channel: null), first in every shape."""
    return {
        "_id": str(conversation.pk),
        "account_id": conversation.account_id,
        "channel_id": conversation.channel_id or None,
    }


def conversation_wire(
    conversation: ConversationRow,
    users: list[str],
    participant: ParticipantState,
    *,
    about: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A conversation as `participant`'s user sees it; `about` (who a prospect conversation is
    with) comes after `channel_id`."""
    return {
        **conversation_ids(conversation),
        **(about or {}),
        "title": conversation.title,
        "image": conversation.image,
        "users": users,
        "created_by": conversation.created_by,
        "last_activity": iso(conversation.last_activity),
        **own_state(participant),
    }


def counter_wire(cid: int, unread_count: int, total_unread: int) -> dict[str, Any]:
    """`counter` / `prospect_counter`: one user's unread count here and over the account."""
    return {"cid": str(cid), "unread_count": unread_count, "total_unread": total_unread}


def read_wire(cid: int, user_id: str, message_id: int | None) -> dict[str, Any]:
    """`read` / `prospect_read`: `user_id` has read up to `message_id` (null: nothing yet)."""
    return {"cid": str(cid), "user_id": user_id, "message_id": str_or_none(message_id)}


def read_ack(cid: int) -> dict[str, Any]:
    """The ack of a read: the reader's unread count is now 0."""
    return {"cid": str(cid), "unread_count": 0}


def typing_wire(cid: int, user_id: str, is_typing: bool) -> dict[str, Any]:
    """`typing` / `prospect_typing`: `user_id` started or stopped typing in `cid`."""
    return {"cid": str(cid), "user_id": user_id, "is_typing": is_typing}


class MessageRow(Protocol):
    """What a message's wire shape reads: a `Message`, or a row a batch has just stored."""

    @property
    def pk(self) -> Any: ...
    @property
    def conversation_id(self) -> int: ...
    @property
    def sender_id(self) -> str: ...
    @property
    def content(self) -> str: ...
    @property
    def attachments(self) -> Any: ...
    @property
    def client_msg_id(self) -> str | None: ...
    @property
    def created_at(self) -> dt.datetime: ...


def message_wire(message: MessageRow) -> dict[str, Any]:
    return {
        "_id": str(message.pk),
        "conversation_id": str(message.conversation_id),
        "sender_id": message.sender_id,
        "content": message.content,
        "attachments": message.attachments,
        "client_msg_id": message.client_msg_id,
        "created_at": iso(message.created_at),
    }
