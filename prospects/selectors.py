"""Reads of prospect conversations and communications, always within the reader's account."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from conversations.memberships import Memberships
from conversations.paging import last_of_each

from .models import Communication, ConversationProspect, LiveVisitor, ProspectParticipant
from .wire import communication_wire, conversation_wire

LAST_MESSAGES = 5  # per conversation in `messageList`
Through = Communication.conversations.through


class ProspectMemberships(Memberships[ProspectParticipant]):
    """Prospect conversations' staff participants; their messages are communications, each
    shown with `is_sender` for its reader."""

    model = ProspectParticipant
    conversation_model = ConversationProspect
    last_read = "last_read"
    related = "conversation__contact"

    def wire(self, participant: ProspectParticipant, users: list[str]) -> dict[str, Any]:
        return conversation_wire(participant.conversation, users, participant)

    def messages(self, cid: int) -> QuerySet[Communication]:
        return conversation_communications(cid)

    def message_wire(self, message: Communication, *, cid: int, uid: str) -> dict[str, Any]:
        return _as_seen_by(message, cid, uid)

    def last_messages(self, *, cids: list[int], uid: str) -> dict[str, list[dict]]:
        return last_communications(cids=cids, uid=uid)

    def search_q(self, search: str) -> Q:
        """Title, the contact's name, email or phone, or a participant's exact uid."""
        text = (
            Q(conversation__title__icontains=search)
            | Q(conversation__contact__name__icontains=search)
            | Q(conversation__contact__email__icontains=search)
            | Q(conversation__contact__phone__icontains=search)
        )
        return text | self.member_q(search)


members = ProspectMemberships()

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
communication_page = members.message_page
communication_around = members.message_around


def conversation_visitors(*, cid: int) -> list[str]:
    """The live-chat visitor ids seen in the conversation (their `visitor:` rooms)."""
    rows = LiveVisitor.objects.filter(conversation_id=cid)
    return list(rows.values_list("visitor_id", flat=True))


def conversation_communications(cid: int) -> QuerySet[Communication]:
    return Communication.objects.filter(conversations=cid)


def last_communications(
    *, cids: list[int], uid: str, count: int = LAST_MESSAGES
) -> dict[str, list[dict]]:
    """Each conversation's last `count` communications, oldest first, in one query."""
    rows = Through.objects.filter(conversationprospect_id__in=cids)
    ranked = last_of_each(
        rows, cid_field="conversationprospect_id", id_field="communication_id", count=count
    )
    result: dict[str, list[dict]] = {str(cid): [] for cid in cids}
    for row in ranked.select_related("communication"):
        cid = row.conversationprospect_id
        result[str(cid)].append(_as_seen_by(row.communication, cid, uid))
    return result


def _as_seen_by(communication: Communication, cid: int, uid: str) -> dict[str, Any]:
    return communication_wire(communication, cid=cid, is_sender=is_sender(communication, uid))


def is_sender(communication: Communication, uid: str) -> bool:
    """Whether `uid` (a staff user) sent it: only OUTGOING communications have a user sender."""
    return communication.type == Communication.Type.OUTGOING and communication.sent_by == uid
