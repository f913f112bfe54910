"""Live-chat visitors: their own conversation only, their messages, reads, and their tokens.

A visitor token (contract §2) names the visitor, its account and the ConversationProspect it
may act on. Anything else a visitor asks for is FORBIDDEN, whether or not it exists.
"""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from django.db import transaction

from conversations.paging import page_before
from conversations.wire import iso, read_ack, read_wire
from realtime.auth import mint_token
from realtime.envelope import Forbidden, NotFound

from . import events
from .communications import communication_fan_out, communication_store
from .models import Communication, ConversationProspect, LiveVisitor
from .selectors import conversation_communications, conversation_users, members
from .wire import communication_wire, visitor_conversation_wire

JOIN_MESSAGES = 30


def visitor_conversation(
    *, cid: int | None, account_id: str, conversation_id: str
) -> ConversationProspect:
    """The visitor's own conversation, when `cid` is it (or None); FORBIDDEN otherwise."""
    own = _own_cid(conversation_id)
    if own is None or (cid is not None and cid != own):
        raise Forbidden("a visitor may act only on its own conversation")
    conversation = ConversationProspect.objects.filter(pk=own, account_id=account_id).first()
    if conversation is None:
        raise Forbidden("a visitor may act only on its own conversation")
    return conversation


def _own_cid(conversation_id: str) -> int | None:
    """The token's `conversation_id` as a row id (None when it cannot be one)."""
    digits = conversation_id.isascii() and conversation_id.isdigit()
    return int(conversation_id) if digits and len(conversation_id) < 19 else None


def _visitor_seen(conversation: ConversationProspect, visitor_id: str) -> None:
    """Record the visitor id: staff replies reach its `visitor:` room from now on."""
    LiveVisitor.objects.get_or_create(conversation=conversation, visitor_id=visitor_id)


def visitor_join(
    *, visitor_id: str, account_id: str, conversation_id: str, cid: int | None = None
) -> dict[str, Any]:
    """`join`: the visitor's conversation and its last communications (oldest first)."""
    conversation = visitor_conversation(
        cid=cid, account_id=account_id, conversation_id=conversation_id
    )
    _visitor_seen(conversation, visitor_id)
    rows = conversation_communications(conversation.pk)
    page = page_before(rows, before=None, limit=JOIN_MESSAGES)
    return {
        "visitor_id": visitor_id,
        "conversation": visitor_conversation_wire(conversation),
        "messages": [_as_visitor_sees(c, conversation.pk) for c in page.rows],
        "paging": page.paging,
    }


def _as_visitor_sees(communication: Communication, cid: int) -> dict[str, Any]:
    incoming = communication.type == Communication.Type.INCOMING
    return communication_wire(communication, cid=cid, is_sender=incoming)


def visitor_message(
    *,
    visitor_id: str,
    account_id: str,
    conversation_id: str,
    cid: int,
    content: str,
    attachments: list[Any] | None = None,
    client_msg_id: str | None = None,
) -> tuple[dict[str, Any], bool]:
    """The contact's INCOMING communication, sent by the contact (`sent_by` is its id): every
    participant's unread count rises and each hears of it; the visitor's rooms too."""
    data = {"content": content, "attachments": attachments or []}
    with transaction.atomic():
        conversation = visitor_conversation(
            cid=cid, account_id=account_id, conversation_id=conversation_id
        )
        _visitor_seen(conversation, visitor_id)
        communication, created = communication_store(
            conversation,
            Communication.Type.INCOMING,
            str(conversation.contact_id),
            data,
            client_msg_id,
        )
        if created:
            communication_fan_out(conversation, communication)
    return _as_visitor_sees(communication, cid), created


def visitor_read(
    *,
    visitor_id: str,
    account_id: str,
    conversation_id: str,
    cid: int,
    message_id: int | None = None,
) -> dict[str, Any]:
    """The contact has read up to `message_id` (the last one without it): stored on the
    conversation, `prospect_read {cid, user_id: "visitor:…", message_id}` to participants."""
    with transaction.atomic():
        conversation = visitor_conversation(
            cid=cid, account_id=account_id, conversation_id=conversation_id
        )
        message_id = members.read_up_to(cid, message_id)
        ConversationProspect.objects.filter(pk=cid).update(contact_last_read_id=message_id)
        read = read_wire(cid, f"visitor:{visitor_id}", message_id)
        users = conversation_users(cid=conversation.pk)
        events.send_on_commit(events.to_users(events.READ, read, users))
    return read_ack(cid)


def visitor_typing_recipients(*, account_id: str, conversation_id: str, cid: int) -> list[str]:
    """The staff who hear the visitor type: every participant of its conversation."""
    conversation = visitor_conversation(
        cid=cid, account_id=account_id, conversation_id=conversation_id
    )
    return conversation_users(cid=conversation.pk)


# ----- tokens (the REST API) ----------------------------------------------------------------


def visitor_token_create(*, contact_id: int, conversation_id: int, ttl: int) -> dict[str, Any]:
    """A visitor token for a contact in one of its conversations, signed like the platform's
    (the visitor id is the contact's id); NOT_FOUND unless the conversation is the contact's."""
    conversation = ConversationProspect.objects.filter(
        pk=conversation_id, contact_id=contact_id
    ).first()
    if conversation is None:
        raise NotFound("no such conversation of this contact")
    expires = int(time.time()) + ttl
    claims = {
        "type": "visitor",
        "visitor_id": str(contact_id),
        "account_id": conversation.account_id,
        "conversation_id": str(conversation.pk),
        "exp": expires,
    }
    return {
        "token": mint_token(claims, ttl_s=None),  # `exp` is set above, to answer it exactly
        "expires_at": iso(dt.datetime.fromtimestamp(expires, dt.UTC)),
    }
