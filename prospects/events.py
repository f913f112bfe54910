"""The events prospect services send: planned as broadcasts, sent after commit or counted.

Staff hear prospect events on both conversation namespaces (like the team's); visitors are on
`/v1/conversation/live` only, in their `visitor:{id}` rooms. Prospect events have their own
names (`prospect_counter`, `prospect_read`, `prospect_typing`, ...), so a client never takes
a prospect conversation's id for a team conversation's.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from conversations.events import NAMESPACES, push_on_commit, user_room
from conversations.wire import counter_wire, state_groups, typing_wire
from realtime.emit import emit, emit_counted, emit_on_commit

from .models import Communication, ConversationProspect, ProspectParticipant
from .wire import communication_wire, conversation_wire

LIVE_NAMESPACE = "/v1/conversation/live"

ADD_CONVERSATION = "prospect_add_conversation"
UPDATE_CONVERSATION = "prospect_update_conversation"
MESSAGE = "prospect_message"
COUNTER = "prospect_counter"
READ = "prospect_read"
NOTE = "prospect_note"
TYPING = "prospect_typing"

PUSH_TITLE = "New message"


def visitor_room(visitor_id: str) -> str:
    return f"visitor:{visitor_id}"


@dataclass(frozen=True, slots=True)
class Broadcast:
    """One event, encoded once, to rooms on each of `namespaces`."""

    event: str
    payload: dict[str, Any]
    rooms: tuple[str, ...]
    namespaces: tuple[str, ...] = NAMESPACES


def to_users(event: str, payload: dict[str, Any], uids: Iterable[str]) -> list[Broadcast]:
    rooms = tuple(user_room(uid) for uid in dict.fromkeys(uids))
    return [Broadcast(event, payload, rooms)] if rooms else []


def to_visitors(event: str, payload: dict[str, Any], visitor_ids: Iterable[str]) -> list[Broadcast]:
    rooms = tuple(visitor_room(visitor) for visitor in dict.fromkeys(visitor_ids))
    return [Broadcast(event, payload, rooms, (LIVE_NAMESPACE,))] if rooms else []


def send_on_commit(broadcasts: Iterable[Broadcast]) -> None:
    """From sync service code: each broadcast goes out once the transaction commits."""
    for broadcast in broadcasts:
        for namespace in broadcast.namespaces:
            emit_on_commit(
                broadcast.event, broadcast.payload, namespace=namespace, to=broadcast.rooms
            )


async def send_counted(broadcasts: Iterable[Broadcast]) -> int:
    """From async code (the REST API): send now; returns the sockets reached everywhere."""
    delivered = 0
    for broadcast in broadcasts:
        for namespace in broadcast.namespaces:
            delivered += await emit_counted(
                broadcast.event, broadcast.payload, namespace=namespace, to=broadcast.rooms
            )
    return delivered


async def send_now(broadcasts: Iterable[Broadcast]) -> None:
    """From async code with nothing stored (typing): send at once."""
    for broadcast in broadcasts:
        for namespace in broadcast.namespaces:
            await emit(broadcast.event, broadcast.payload, namespace=namespace, to=broadcast.rooms)


# ----- what each change sends -------------------------------------------------------------


def conversation_to_members(
    event: str,
    conversation: ConversationProspect,
    members: Iterable[ProspectParticipant],
    users: list[str],
    **extra: Any,
) -> list[Broadcast]:
    """`event {conversation, **extra}` to each member with their own state: one broadcast per
    distinct state (members whose unread count and flags agree share one encoded packet)."""
    broadcasts = []
    for group in state_groups(members):
        payload = {"conversation": conversation_wire(conversation, users, group[0]), **extra}
        broadcasts += to_users(event, payload, [member.uid for member in group])
    return broadcasts


def counters(cid: int, unread: Mapping[str, int], totals: Mapping[str, int]) -> list[Broadcast]:
    """`prospect_counter {cid, unread_count, total_unread}` to each user, their own numbers."""
    broadcasts = []
    for uid, count in unread.items():
        broadcasts += to_users(COUNTER, counter_wire(cid, count, totals.get(uid, 0)), [uid])
    return broadcasts


def communication_to_conversation(
    communication: Communication, cid: int, users: list[str], visitors: list[str]
) -> list[Broadcast]:
    """`prospect_message` to one conversation: its sender's rooms with `is_sender` true, the
    other participants with false, and its visitors (for whom INCOMING is their own)."""
    incoming = communication.type == Communication.Type.INCOMING
    sender = None if incoming else communication.sent_by
    others = [uid for uid in users if uid != sender]
    broadcasts = []
    if sender in users:
        mine = communication_wire(communication, cid=cid, is_sender=True)
        broadcasts += to_users(MESSAGE, mine, [sender])
    theirs = communication_wire(communication, cid=cid, is_sender=False)
    broadcasts += to_users(MESSAGE, theirs, others)
    for_visitors = communication_wire(communication, cid=cid, is_sender=incoming)
    return broadcasts + to_visitors(MESSAGE, for_visitors, visitors)


async def typing_broadcast(*, cid: int, uid: str, recipients: list[str], is_typing: bool) -> None:
    """`prospect_typing {cid, user_id, is_typing}` to the staff `recipients`, at once (a
    `TypingTracker`'s broadcast for visitors)."""
    await send_now(to_users(TYPING, typing_wire(cid, uid, is_typing), recipients))


def push_body(data: Mapping[str, Any]) -> str:
    """A communication's text for a push: its `content` (or `text`, `body`), else a clip."""
    for key in ("content", "text", "body"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
    return "📎"


def communication_push(
    conversation: ConversationProspect, communication: Communication, uids: list[str]
) -> None:
    """After commit, a push to those of `uids` with no live socket (the push checks)."""
    push_on_commit(
        uids,
        title=conversation.title or PUSH_TITLE,
        body=push_body(communication.data),
        data={
            "type": MESSAGE,
            "conversation_id": str(conversation.pk),
            "message_id": str(communication.pk),
        },
    )
