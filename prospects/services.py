"""Writes to prospect conversations: create, participants, edit, each user's state, reads, notes.

Every write runs in one transaction and sends its events only once it commits. Messages
(communications) are in `communications.py`, the live-chat visitor's side in `visitors.py`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from conversations.wire import read_ack, read_wire
from realtime.envelope import NotFound

from . import events
from .models import Contact, ConversationProspect, Note, ProspectParticipant
from .selectors import conversation_users, member_conversation, member_get, members, unread_totals
from .wire import note_wire


def conversation_create(
    *,
    uid: str,
    account_id: str,
    contact_id: int,
    channel_id: str = "",
    users: list[str] | None = None,
    title: str | None = None,
    image: str | None = None,
) -> dict[str, Any]:
    """The conversation of `uid` and `users` with a contact of the account on a channel.

    Title and image fall back to the contact's. There is one conversation per contact and
    channel: when it exists already, the users not yet in it are added (`is_new` false).
    `prospect_add_conversation {conversation, is_new}` goes to each participant added, and
    to the actor in any case (its ack carries no data).
    """
    uids = list(dict.fromkeys([uid, *(users or [])]))
    with transaction.atomic():
        contact = Contact.objects.filter(pk=contact_id, account_id=account_id).first()
        if contact is None:
            raise NotFound("no such contact")
        conversation, created = _conversation_get_or_create(
            uid, contact, channel_id, title or contact.name, image or contact.image
        )
        added = _members_add(conversation, uids, updated_for_others=not created)
        actor = ProspectParticipant.objects.get(conversation=conversation, uid=uid)
        actor.conversation = conversation
        told = added if uid in {member.uid for member in added} else [*added, actor]
        events.send_on_commit(
            events.conversation_to_members(
                events.ADD_CONVERSATION,
                conversation,
                told,
                conversation_users(cid=conversation.pk),
                is_new=created,
            )
        )
    return member_conversation(actor)


def _conversation_get_or_create(
    uid: str, contact: Contact, channel_id: str, title: str, image: str
) -> tuple[ConversationProspect, bool]:
    key = {"account_id": contact.account_id, "contact": contact, "channel_id": channel_id}
    existing = ConversationProspect.objects.filter(**key).first()
    if existing is not None:
        return existing, False
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a concurrent create may win the race
            created = ConversationProspect.objects.create(
                **key, title=title, image=image, created_by=uid, created_at=now, last_activity=now
            )
    except IntegrityError:
        return ConversationProspect.objects.get(**key), False
    return created, True


def _members_add(
    conversation: ConversationProspect, uids: list[str], *, updated_for_others: bool
) -> list[ProspectParticipant]:
    """Add those of `uids` not in yet; the members there before get
    `prospect_update_conversation` when `updated_for_others` and anyone was added."""
    existing, added = members.add_missing(conversation, uids, timezone.now())
    if added and updated_for_others:
        users = conversation_users(cid=conversation.pk)
        events.send_on_commit(
            events.conversation_to_members(
                events.UPDATE_CONVERSATION, conversation, existing, users
            )
        )
    return added


def conversation_add_participants(
    *, cid: int, uid: str, account_id: str, users: list[str]
) -> dict[str, Any]:
    """Add users; `prospect_add_conversation` to the new ones, `prospect_update_conversation`
    to the others."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        conversation = actor.conversation
        added = _members_add(conversation, users, updated_for_others=True)
        all_users = conversation_users(cid=cid)
        events.send_on_commit(
            events.conversation_to_members(
                events.ADD_CONVERSATION, conversation, added, all_users, is_new=False
            )
        )
    return member_conversation(actor)


def conversation_edit(
    *, cid: int, uid: str, account_id: str, title: str | None = None, image: str | None = None
) -> dict[str, Any]:
    """Change the title and/or image; `prospect_update_conversation` to every participant."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        conversation = actor.conversation
        if members.conversation_change(conversation, title=title, image=image):
            everyone = members.in_conversation(conversation)
            users = conversation_users(cid=cid)
            events.send_on_commit(
                events.conversation_to_members(
                    events.UPDATE_CONVERSATION, conversation, everyone, users
                )
            )
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
    """`prospect_open` / `_snooze` / `_archive` / `_show_on_top` for the user only;
    `prospect_update_conversation` goes to the user's own sockets."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        members.state_set(actor, action=action, value=value, until=until)
        conversation = member_conversation(actor)
        payload = {"conversation": conversation}
        events.send_on_commit(events.to_users(events.UPDATE_CONVERSATION, payload, [uid]))
    return conversation


def conversation_read(
    *, cid: int, uid: str, account_id: str, message_id: int | None = None
) -> dict[str, Any]:
    """The user has read up to `message_id` (the last communication without one): unread
    goes to 0, `prospect_counter` to the reader, `prospect_read` to every participant."""
    with transaction.atomic():
        actor = member_get(cid=cid, uid=uid, account_id=account_id)
        message_id = members.read_up_to(cid, message_id)
        members.read_set(actor, message_id)
        totals = unread_totals(uids=[uid], account_id=account_id)
        read = read_wire(cid, uid, message_id)
        events.send_on_commit(
            events.counters(cid, {uid: 0}, totals)
            + events.to_users(events.READ, read, conversation_users(cid=cid))
        )
    return read_ack(cid)


def note_add(*, cid: int, uid: str, account_id: str, content: str) -> dict[str, Any]:
    """A staff note; `prospect_note {note}` to every participant (never to visitors)."""
    with transaction.atomic():
        member_get(cid=cid, uid=uid, account_id=account_id)
        note = Note.objects.create(conversation_id=cid, author_id=uid, content=content)
        wire = note_wire(note)
        users = conversation_users(cid=cid)
        events.send_on_commit(events.to_users(events.NOTE, {"note": wire}, users))
    return wire
