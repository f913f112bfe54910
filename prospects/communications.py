"""Communications: a staff reply (OUTGOING) or the contact's message (INCOMING), stored once,
then `prospect_message`, counters and offline pushes after commit; and the REST re-emits."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.db import transaction

from conversations.idempotent import create_once
from realtime.envelope import NotFound
from realtime.push.notify import schedule_offline_push

from . import events
from .models import Communication, ConversationProspect
from .selectors import conversation_users, conversation_visitors, member_get, members
from .wire import communication_wire

NEW_CONVERSATION_TITLE = "New conversation"


def communication_send(
    *, cid: int, uid: str, account_id: str, data: dict[str, Any], client_msg_id: str | None = None
) -> tuple[dict[str, Any], bool]:
    """A staff user's OUTGOING communication in a conversation they take part in.

    Returns it as its sender sees it, and whether it is new: a `client_msg_id` this user
    already used returns the stored one and sends nothing again.
    """
    with transaction.atomic():
        sender = member_get(cid=cid, uid=uid, account_id=account_id)
        communication, created = communication_store(
            sender.conversation, Communication.Type.OUTGOING, uid, data, client_msg_id
        )
        if created:
            communication_fan_out(sender.conversation, communication)
    return communication_wire(communication, cid=cid, is_sender=True), created


def communication_store(
    conversation: ConversationProspect,
    kind: str,
    sent_by: str,
    data: dict[str, Any],
    client_msg_id: str | None,
) -> tuple[Communication, bool]:
    """The new communication in `conversation`, or the one `sent_by` stored under
    `client_msg_id` already."""

    def create() -> Communication:
        communication = Communication.objects.create(
            account_id=conversation.account_id,
            contact_id=conversation.contact_id,
            type=kind,
            sent_by=sent_by,
            data=data,
            client_msg_id=client_msg_id,
        )
        communication.conversations.add(conversation)
        return communication

    key = {"type": kind, "sent_by": sent_by, "client_msg_id": client_msg_id}
    return create_once(
        client_msg_id=client_msg_id,
        find=lambda: Communication.objects.filter(**key).first(),
        create=create,
    )


def communication_fan_out(conversation: ConversationProspect, communication: Communication) -> None:
    """Raise every participant's unread count but the sender's in one statement, then (after
    commit) `prospect_message`, `prospect_counter` to each of them, and offline pushes."""
    counts = members.count_new(
        conversation,
        sender=_sender_uid(communication),
        message_id=communication.pk,
        at=communication.created_at,
    )
    visitors = conversation_visitors(cid=conversation.pk)
    events.send_on_commit(
        events.communication_to_conversation(communication, conversation.pk, counts.users, visitors)
        + events.counters(conversation.pk, counts.unread, counts.totals)
    )
    events.communication_push(conversation, communication, counts.others)


def _sender_uid(communication: Communication) -> str | None:
    """The staff user who sent it (None for INCOMING: every participant is a recipient)."""
    if communication.type == Communication.Type.OUTGOING:
        return communication.sent_by
    return None


# ----- REST re-emits (contract §8) ----------------------------------------------------------


def communication_broadcasts(
    *, message_id: int
) -> tuple[list[events.Broadcast], dict[str, Any] | None]:
    """`prospect_message` to every participant (and visitor) of every conversation of the
    communication, and the push for those with no live socket; NOT_FOUND if unknown."""
    communication = Communication.objects.filter(pk=message_id).first()
    if communication is None:
        raise NotFound("no such message")
    broadcasts: list[events.Broadcast] = []
    recipients: list[str] = []
    conversations = list(communication.conversations.order_by("id"))
    for conversation in conversations:
        users = conversation_users(cid=conversation.pk)
        visitors = conversation_visitors(cid=conversation.pk)
        broadcasts += events.communication_to_conversation(
            communication, conversation.pk, users, visitors
        )
        recipients += [uid for uid in users if uid != _sender_uid(communication)]
    push = None
    if conversations:
        push = {
            "uids": list(dict.fromkeys(recipients)),
            "title": conversations[0].title or events.PUSH_TITLE,
            "body": events.push_body(communication.data),
            "data": {"type": events.MESSAGE, "message_id": str(communication.pk)},
        }
    return broadcasts, push


def conversation_broadcasts(
    *, cid: int, is_new: bool
) -> tuple[list[events.Broadcast], dict[str, Any] | None]:
    """`prospect_add_conversation {conversation, is_new}` to each participant with their own
    state; a new conversation is pushed to those with no live socket. NOT_FOUND if unknown."""
    conversation = ConversationProspect.objects.select_related("contact").filter(pk=cid).first()
    if conversation is None:
        raise NotFound("no such conversation")
    everyone = members.in_conversation(conversation)
    users = conversation_users(cid=cid)
    broadcasts = events.conversation_to_members(
        events.ADD_CONVERSATION, conversation, everyone, users, is_new=is_new
    )
    push = None
    if is_new:
        push = {
            "uids": users,
            "title": NEW_CONVERSATION_TITLE,
            "body": conversation.title or NEW_CONVERSATION_TITLE,
            "data": {"type": events.ADD_CONVERSATION, "conversation_id": str(cid)},
        }
    return broadcasts, push


async def communication_emit(*, message_id: int) -> int:
    """REST: re-send a stored communication; returns the sockets reached everywhere."""
    broadcasts, push = await database_sync_to_async(communication_broadcasts)(message_id=message_id)
    return await _send_and_push(broadcasts, push)


async def conversation_emit(*, cid: int, is_new: bool) -> int:
    """REST: send a stored conversation to its participants; the sockets reached."""
    broadcasts, push = await database_sync_to_async(conversation_broadcasts)(cid=cid, is_new=is_new)
    return await _send_and_push(broadcasts, push)


async def _send_and_push(broadcasts: list[events.Broadcast], push: dict[str, Any] | None) -> int:
    delivered = await events.send_counted(broadcasts)
    if push is not None:
        schedule_offline_push(push.pop("uids"), **push)  # in the background: never waited on
    return delivered
