"""Writes to conversations: create, edit, participants, each user's state, reads, messages.

Every write runs in one transaction and sends its events only once it commits; messages are
stored by `sending`, many senders' in one transaction.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import events
from .models import Conversation
from .selectors import conversation_users, member_conversation, member_get, members, unread_totals
from .sending import MessageRequest, message_send, message_submit, messages_send
from .wire import conversation_wire, read_ack, read_wire


def conversation_create(
    *,
    uid: str,
    account_id: str,
    users: list[str],
    title: str = "",
    image: str = "",
    channel_id: str = "",
) -> dict[str, Any]:
    """A conversation of `uid` and `users`; `add_conversation` goes to every participant."""
    uids = list(dict.fromkeys([uid, *users]))
    now = timezone.now()
    with transaction.atomic():
        conversation = Conversation.objects.create(
            account_id=account_id,
            channel_id=channel_id,
            title=title,
            image=image,
            created_by=uid,
            created_at=now,
            last_activity=now,
        )
        added = members.add(conversation, uids, now)
        events.conversation_to_members("add_conversation", conversation, added, uids)
    return conversation_wire(conversation, uids, added[0])


def conversation_add_participants(
    *, cid: int, uid: str, account_id: str, users: list[str]
) -> dict[str, Any]:
    """Add users; `add_conversation` to the new ones, `update_conversation` to the others."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        conversation = actor.conversation
        existing, added = members.add_missing(conversation, users, timezone.now())
        all_users = conversation_users(cid=cid)
        if added:
            events.conversation_to_members("add_conversation", conversation, added, all_users)
            events.conversation_to_members("update_conversation", conversation, existing, all_users)
    return conversation_wire(conversation, all_users, actor)


def conversation_edit(
    *, cid: int, uid: str, account_id: str, title: str | None = None, image: str | None = None
) -> dict[str, Any]:
    """Change the title and/or image; `update_conversation` to every participant."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        conversation = actor.conversation
        if members.conversation_change(conversation, title=title, image=image):
            everyone = members.in_conversation(conversation)
            users = conversation_users(cid=cid)
            events.conversation_to_members("update_conversation", conversation, everyone, users)
    return member_conversation(actor)


def participant_state_set(
    *,
    cid: int,
    uid: str,
    account_id: str,
    action: str,
    value: bool,
    until: dt.datetime | None = None,
) -> dict[str, Any]:
    """`open` / `snooze` / `archive` / `show_on_top` for the user only; `update_conversation`
    goes to the user's own sockets."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        members.state_set(actor, action=action, value=value, until=until)
        conversation = member_conversation(actor)
        events.to_users("update_conversation", {"conversation": conversation}, uids=[uid])
    return conversation


def conversation_read(
    *, cid: int, uid: str, account_id: str, message_id: int | None = None
) -> dict[str, Any]:
    """The user has read up to `message_id` (the last message without one): unread goes to 0,
    `counter` to the reader, `read` to every participant."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        message_id = members.read_up_to(cid, message_id)
        members.read_set(actor, message_id)
        totals = unread_totals(uids=[uid], account_id=account_id)
        events.counters(cid, {uid: 0}, totals)
        read = read_wire(cid, uid, message_id)
        events.to_users("read", read, uids=conversation_users(cid=cid))
    return read_ack(cid)


# ----- messages: see `sending` (many senders' messages in one transaction) -----------------

__all__ = [
    "MessageRequest",
    "conversation_add_participants",
    "conversation_create",
    "conversation_edit",
    "conversation_read",
    "message_send",
    "message_submit",
    "messages_send",
    "participant_state_set",
]
