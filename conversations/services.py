"""Writes to conversations: create, edit, participants, each user's state, reads, messages.

Every write runs in one transaction and sends its events only once it commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction
from django.utils import timezone

from . import events
from .idempotent import create_once
from .models import Conversation, Message
from .selectors import conversation_users, member_conversation, member_get, members, unread_totals
from .wire import conversation_wire, message_wire, read_ack, read_wire

PUSH_TITLE = "New message"


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


# ----- messages ---------------------------------------------------------------------------


def message_send(
    *,
    cid: int,
    uid: str,
    account_id: str,
    content: str,
    attachments: list[Any] | None = None,
    client_msg_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a message, then (after commit) `new_message` to every participant, `counter` to
    each other participant, and a push to those with no live socket.

    Returns the message and whether it is new: a `client_msg_id` this sender already used in
    this conversation returns the stored message and sends nothing again.
    """
    with transaction.atomic():
        sender = member_get(cid=cid, uid=uid, account_id=account_id)
        message, created = _message_store(
            sender.conversation, uid, content, attachments, client_msg_id
        )
        if created:
            _message_fan_out(sender.conversation, message)
    return message_wire(message), created


def _message_store(
    conversation: Conversation,
    uid: str,
    content: str,
    attachments: list[Any] | None,
    client_msg_id: str | None,
) -> tuple[Message, bool]:
    """The new message, or the one this sender already stored under `client_msg_id`."""
    key = {"conversation": conversation, "sender_id": uid, "client_msg_id": client_msg_id}
    return create_once(
        client_msg_id=client_msg_id,
        find=lambda: Message.objects.filter(**key).first(),
        create=lambda: Message.objects.create(
            conversation=conversation,
            sender_id=uid,
            content=content,
            attachments=attachments or [],
            client_msg_id=client_msg_id,
        ),
    )


def _message_fan_out(conversation: Conversation, message: Message) -> None:
    """Raise the others' unread counts in one statement, then schedule the events."""
    counts = members.count_new(
        conversation, sender=message.sender_id, message_id=message.pk, at=message.created_at
    )
    events.to_users("new_message", {"message": message_wire(message)}, uids=counts.users)
    events.counters(conversation.pk, counts.unread, counts.totals)
    _message_push(conversation, message, counts.others)


def _message_push(conversation: Conversation, message: Message, uids: list[str]) -> None:
    """After commit, a push to those of `uids` with no live socket (the push checks)."""
    events.push_on_commit(
        uids,
        title=conversation.title or PUSH_TITLE,
        body=message.content or "📎",
        data={
            "type": "new_message",
            "conversation_id": str(conversation.pk),
            "message_id": str(message.pk),
        },
    )
