"""The events conversation services send, after their transaction commits, to users' rooms."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction

from realtime.emit import Emitted, emit_all_on_commit, emit_on_commit, emitted
from realtime.hub import get_hub
from realtime.push.notify import OfflinePush, schedule_offline_pushes

from .models import Conversation, Participant
from .wire import conversation_wire, counter_wire, state_groups

# a staff member may be on either namespace; both get the team's events
NAMESPACES = ("/v1/conversation", "/v1/conversation/live")


def user_room(uid: str) -> str:
    return f"user:{uid}"


def account_room(account_id: str) -> str:
    return f"account:{account_id}"


def to_rooms(
    event: str, *args: Any, rooms: str | list[str], out: list[Emitted] | None = None
) -> None:
    """One emit per namespace, each encoded once, sent when the transaction commits; with
    `out`, added to it instead (for `emit_all_on_commit`)."""
    if not rooms:
        return
    for namespace in NAMESPACES:
        if out is None:
            emit_on_commit(event, *args, namespace=namespace, to=rooms)
        else:
            out.append(emitted(event, *args, namespace=namespace, to=rooms))


def to_users(event: str, *args: Any, uids: Iterable[str], out: list[Emitted] | None = None) -> None:
    to_rooms(event, *args, rooms=[user_room(uid) for uid in dict.fromkeys(uids)], out=out)


def conversation_to_members(
    event: str, conversation: Conversation, members: Iterable[Participant], users: list[str]
) -> None:
    """`event {conversation}` to each member with their own state: one emit per distinct state
    (every member whose unread count and flags agree shares one encoded packet)."""
    for group in state_groups(members):
        payload = {"conversation": conversation_wire(conversation, users, group[0])}
        to_users(event, payload, uids=[member.uid for member in group])


def counters(
    cid: int,
    unread: Mapping[str, int],
    totals: Mapping[str, int],
    out: list[Emitted] | None = None,
) -> None:
    """`counter {cid, unread_count, total_unread}` to each user, their own numbers.

    Built as `Emitted` directly (`to_users` checks and copies what is known good here): a
    batch of messages makes one per other participant of each message and namespace.
    """
    batch: list[Emitted] = [] if out is None else out
    for uid, count in unread.items():
        args = (counter_wire(cid, count, totals.get(uid, 0)),)
        rooms = (user_room(uid),)
        batch += [Emitted("counter", args, namespace, rooms, ()) for namespace in NAMESPACES]
    if out is None:
        emit_all_on_commit(batch)


def push_on_commit(uids: list[str], *, title: str, body: str, data: dict[str, Any]) -> None:
    """After commit, push to those of `uids` with no live socket; never blocks the caller."""
    pushes_on_commit([OfflinePush(uids, title, body, data)])


def pushes_on_commit(pushes: list[OfflinePush]) -> None:
    """`push_on_commit` of each (a batch of messages: one read of the sockets for all)."""
    pushes = [push for push in pushes if push.uids]
    if pushes:
        transaction.on_commit(lambda: _push_soon(pushes))


def _push_soon(pushes: list[OfflinePush]) -> None:
    loop = get_hub().loop
    if loop is None or loop.is_closed():
        return  # no server runs in this process (a management command, a unit test)
    loop.call_soon_threadsafe(lambda: schedule_offline_pushes(pushes))
