"""Reads of conversations and messages, always within the reader's account (sync ORM code)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .memberships import Memberships
from .models import Conversation, Message, Participant
from .paging import last_of_each
from .wire import conversation_wire, message_wire

LAST_MESSAGES = 5  # per conversation in `messageList`


class TeamMemberships(Memberships[Participant]):
    """Team conversations' participants; their messages are `Message` rows."""

    model = Participant
    conversation_model = Conversation
    last_read = "last_read_message"

    def wire(self, participant: Participant, users: list[str]) -> dict[str, Any]:
        return conversation_wire(participant.conversation, users, participant)

    def messages(self, cid: int) -> QuerySet[Message]:
        return Message.objects.filter(conversation_id=cid)

    def message_wire(self, message: Message, *, cid: int, uid: str) -> dict[str, Any]:
        return message_wire(message)

    def last_messages(self, *, cids: list[int], uid: str) -> dict[str, list[dict]]:
        return last_messages(cids=cids)


members = TeamMemberships()

# the reads every kind of conversation has (see `Memberships`), under this app's names
member_get = members.get
conversation_users = members.uids
users_by_conversation = members.uids_by_conversation
member_conversation = members.conversation_of
conversation_get = members.conversation_get
conversation_list = members.listing
conversation_counters = members.counters
unread_totals = members.unread_totals
member_unread = members.unread
message_page = members.message_page
message_around = members.message_around


def member_other_uids(*, cid: int, uid: str, account_id: str) -> list[str]:
    """The other participants of a conversation the user is in (for typing)."""
    member_get(cid=cid, uid=uid, account_id=account_id)
    return [other for other in conversation_users(cid=cid) if other != uid]


def last_messages(*, cids: list[int], count: int = LAST_MESSAGES) -> dict[str, list[dict]]:
    """Each conversation's last `count` messages, oldest first, in one query."""
    rows = Message.objects.filter(conversation_id__in=cids)
    ranked = last_of_each(rows, cid_field="conversation_id", id_field="id", count=count)
    result: dict[str, list[dict]] = {str(cid): [] for cid in cids}
    for message in ranked:
        result[str(message.conversation_id)].append(message_wire(message))
    return result


def channel_overview(*, uid: str, account_id: str, channel_id: str | None = None) -> dict[str, Any]:
    """`channel`: the user's counters and first page of conversations, in one channel or all."""
    listing = conversation_list(uid=uid, account_id=account_id, channel_id=channel_id)
    return {
        "counters": conversation_counters(uid=uid, account_id=account_id, channel_id=channel_id),
        "conversation": listing["conversation"],
    }
