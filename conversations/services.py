"""Writes to conversations: create, edit, participants, each user's state, reads, messages.

Every write runs in one transaction and sends its events only once it commits.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import BigIntegerField, Case, F, Value, When
from django.utils import timezone

from realtime.envelope import NotFound

from . import events
from .models import Conversation, Message, Participant
from .selectors import (
    conversation_users,
    member_conversation,
    member_get,
    member_unread,
    unread_totals,
)
from .wire import conversation_wire, message_wire, read_ack, read_wire

STATE_FIELDS = {"open": "is_open", "archive": "archived", "show_on_top": "show_on_top"}
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
        members = _add_members(conversation, uids, now)
        events.conversation_to_members("add_conversation", conversation, members, uids)
    return conversation_wire(conversation, uids, members[0])


def _add_members(
    conversation: Conversation, uids: list[str], now: dt.datetime
) -> list[Participant]:
    members = [
        Participant(
            conversation=conversation,
            uid=member,
            account_id=conversation.account_id,
            last_activity=conversation.last_activity,
            joined_at=now,
        )
        for member in uids
    ]
    Participant.objects.bulk_create(members, ignore_conflicts=True)  # a concurrent add won
    return members


def conversation_add_participants(
    *, cid: int, uid: str, account_id: str, users: list[str]
) -> dict[str, Any]:
    """Add users; `add_conversation` to the new ones, `update_conversation` to the others."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        conversation = actor.conversation
        existing = list(Participant.objects.filter(conversation=conversation))
        known = {member.uid for member in existing}
        added = [user for user in dict.fromkeys(users) if user not in known]
        new_members = _add_members(conversation, added, timezone.now())
        all_users = conversation_users(cid=cid)
        if added:
            events.conversation_to_members("add_conversation", conversation, new_members, all_users)
            events.conversation_to_members("update_conversation", conversation, existing, all_users)
    return conversation_wire(conversation, all_users, actor)


def conversation_edit(
    *, cid: int, uid: str, account_id: str, title: str | None = None, image: str | None = None
) -> dict[str, Any]:
    """Change the title and/or image; `update_conversation` to every participant."""
    changes = {
        name: value for name, value in (("title", title), ("image", image)) if value is not None
    }
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        conversation = actor.conversation
        if changes:
            Conversation.objects.filter(pk=cid).update(**changes)
            for name, value in changes.items():
                setattr(conversation, name, value)
            members = list(Participant.objects.filter(conversation=conversation))
            users = conversation_users(cid=cid)
            events.conversation_to_members("update_conversation", conversation, members, users)
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
        if action == "snooze":
            changes: dict[str, Any] = {"snoozed_until": until if value else None}
        else:
            changes = {STATE_FIELDS[action]: value}
        Participant.objects.filter(pk=actor.pk).update(**changes)
        for name, new in changes.items():
            setattr(actor, name, new)
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
        messages = Message.objects.filter(conversation_id=cid)
        if message_id is None:
            message_id = messages.order_by("-id").values_list("id", flat=True).first()
        elif not messages.filter(pk=message_id).exists():
            raise NotFound("no such message in this conversation")
        Participant.objects.filter(pk=actor.pk).update(
            unread_count=0, last_read_message_id=message_id
        )
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
    if client_msg_id is not None:
        stored = _stored_message(conversation, uid, client_msg_id)
        if stored is not None:
            return stored, False
    try:
        with transaction.atomic():  # a savepoint: a concurrent retry may win the race
            message = Message.objects.create(
                conversation=conversation,
                sender_id=uid,
                content=content,
                attachments=attachments or [],
                client_msg_id=client_msg_id,
            )
    except IntegrityError:
        stored = _stored_message(conversation, uid, client_msg_id)
        if stored is None:
            raise
        return stored, False
    return message, True


def _stored_message(
    conversation: Conversation, uid: str, client_msg_id: str | None
) -> Message | None:
    return Message.objects.filter(
        conversation=conversation, sender_id=uid, client_msg_id=client_msg_id
    ).first()


def _message_fan_out(conversation: Conversation, message: Message) -> None:
    """Raise the others' unread counts in one statement, then schedule the events."""
    sender = message.sender_id
    now = message.created_at
    Conversation.objects.filter(pk=conversation.pk).update(last_activity=now)
    Participant.objects.filter(conversation=conversation).update(
        unread_count=Case(When(uid=sender, then=F("unread_count")), default=F("unread_count") + 1),
        last_read_message_id=Case(
            When(uid=sender, then=Value(message.pk)),
            default=F("last_read_message_id"),
            output_field=BigIntegerField(),
        ),
        last_activity=now,
    )
    unread = member_unread(cid=conversation.pk, account_id=conversation.account_id)
    others = [user for user in unread if user != sender]
    events.to_users("new_message", {"message": message_wire(message)}, uids=list(unread))
    events.counters(
        conversation.pk,
        {user: unread[user][0] for user in others},
        {user: unread[user][1] for user in others},
    )
    _message_push(conversation, message, others)


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
