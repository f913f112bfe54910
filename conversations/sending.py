"""Messages: many senders' messages stored in one transaction (group commit).

`messages_send` stores a batch with a fixed handful of statements, whatever its size: the
participant rows of its conversations (on PostgreSQL every row of their users locked, so the
totals count other transactions' rises), one INSERT of the new messages, one UPDATE of
the conversations, one per distinct unread increase and one of the senders' rows, one read of
the recipients' totals (written out in `batchsql`).
Each message then gets exactly the events it would have got alone (`new_message` to every
participant, `counter` to each other one with their own counts as of that message, a push to
those with no live socket), sent once the transaction commits.

`message_writer` gathers the `message` events of every socket of the process into such
batches (see `realtime.batching`); each sender's ack waits for its own message's commit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any, NamedTuple

from django.db import IntegrityError, transaction
from django.utils import timezone

from realtime.batching import GroupCommit
from realtime.emit import Emitted, emit_all_on_commit
from realtime.push.notify import OfflinePush

from . import batchsql, events
from .batchsql import NewMessage
from .models import Message
from .selectors import members
from .wire import MessageRow, message_wire

PUSH_TITLE = "New message"
# messages per transaction: a batch fills up only under load, and a fuller one shares its
# statements, its commit and its participants' rows among more messages (bench scenario 5 at
# saturation, in pairs: 200 against 100 gave +20-30 % on PostgreSQL, +10-20 % on SQLite)
MAX_BATCH = 200

MessageSent = tuple[dict[str, Any], bool]  # the message on the wire, and whether it is new


@dataclass(frozen=True, slots=True)
class MessageRequest:
    """One `message`: who sends what to which conversation."""

    cid: int
    uid: str
    account_id: str
    content: str = ""
    attachments: list[Any] | None = None
    client_msg_id: str | None = None

    @property
    def key(self) -> tuple[int, str, str | None]:
        """What makes a message with a client id stored once."""
        return (self.cid, self.uid, self.client_msg_id)


class _Member(NamedTuple):
    """A participant row as the batch reads it (locked until the commit)."""

    pk: int
    cid: int
    uid: str
    account_id: str
    unread: int
    title: str


def message_send(
    *,
    cid: int,
    uid: str,
    account_id: str,
    content: str,
    attachments: list[Any] | None = None,
    client_msg_id: str | None = None,
) -> MessageSent:
    """Store a message, then (after commit) `new_message` to every participant, `counter` to
    each other participant, and a push to those with no live socket.

    Returns the message and whether it is new: a `client_msg_id` this sender already used in
    this conversation returns the stored message and sends nothing again.
    """
    request = MessageRequest(cid, uid, account_id, content, attachments, client_msg_id)
    outcome = messages_send([request])[0]
    if isinstance(outcome, BaseException):
        raise outcome
    return outcome


def messages_send(requests: list[MessageRequest]) -> list[MessageSent | Exception]:
    """`message_send` for each request, in one transaction: one outcome per request, in order,
    its (message, new) or the error it alone gets (FORBIDDEN, NOT_FOUND).

    Should the batch fail as a whole, each request goes again in a transaction of its own, so
    a request that breaks the batch fails alone.
    """
    try:
        with transaction.atomic():
            return _store(requests)
    except Exception:
        if len(requests) == 1:
            raise
    outcomes: list[MessageSent | Exception] = []
    for request in requests:
        try:
            with transaction.atomic():
                outcomes.extend(_store([request]))
        except Exception as exc:
            outcomes.append(exc)
    return outcomes


async def message_submit(**request: Any) -> MessageSent:
    """`message_send` from async code, in the group commit of every socket of the process."""
    return await message_writer.submit(MessageRequest(**request))


message_writer: GroupCommit[MessageRequest, MessageSent] = GroupCommit(
    messages_send, max_batch=MAX_BATCH
)


# ----- one batch, inside its transaction ----------------------------------------------------

Key = tuple[Any, ...]  # a message's key in the batch: its client id, else its position


def _store(requests: list[MessageRequest]) -> list[MessageSent | Exception]:
    """Check each sender's membership, store the new messages once each, count them."""
    now = timezone.now()
    cids = list(dict.fromkeys(request.cid for request in requests))
    rows = [_Member(*row) for row in batchsql.locked_members(cids)]
    by_user = {(row.cid, row.uid): row for row in rows}

    outcomes: dict[int, MessageSent | Exception] = {}
    fresh: dict[Key, NewMessage] = {}
    keys: dict[int, Key] = {}  # each request that may store -> its message's key
    for i, request in enumerate(requests):
        member = by_user.get((request.cid, request.uid))
        if member is None or member.account_id != request.account_id:
            outcomes[i] = members.absent(cid=request.cid, account_id=request.account_id)
            continue
        keys[i] = request.key if request.client_msg_id is not None else (i,)
        if keys[i] not in fresh:  # else the same client id twice in the batch: stored once
            fresh[keys[i]] = NewMessage(
                None,
                request.cid,
                request.uid,
                request.content,
                request.attachments or [],
                request.client_msg_id,
                now,
            )
    stored, before = _insert(fresh)
    wires = {key: message_wire(message) for key, message in stored.items()}

    new: list[tuple[MessageRow, dict[str, Any]]] = []
    told: set[Key] = set()  # the keys whose first request was answered
    for i, key in keys.items():
        created = key not in before and key not in told
        told.add(key)
        if created:
            new.append((stored[key], wires[key]))
        outcomes[i] = (wires[key], created)
    if new:
        _count_new(rows, new, now)
    return [outcomes[i] for i in range(len(requests))]


def _insert(fresh: dict[Key, NewMessage]) -> tuple[dict[Key, MessageRow], set[Key]]:
    """One INSERT of every message: each key's stored row, and the keys that were stored
    before under their client id (a retry of a message committed earlier), left out."""
    if not fresh:
        return {}, set()
    stored: dict[Key, MessageRow] = {}
    before: set[Key] = set()
    inserted = batchsql.insert_messages(list(fresh.values()))
    for (key, message), row in zip(fresh.items(), inserted, strict=True):
        if row is None:
            stored[key] = _stored_before(message)
            before.add(key)
        else:
            stored[key] = row
    return stored, before


def _stored_before(message: NewMessage) -> Message:
    """The message this sender stored before under the same client id (the INSERT left it out)."""
    found = Message.objects.filter(
        conversation_id=message.conversation_id,
        sender_id=message.sender_id,
        client_msg_id=message.client_msg_id,
    ).first()
    if found is None:  # left out, yet not there: the batch fails, and each goes again alone
        raise IntegrityError(f"message {message.client_msg_id!r} neither inserted nor stored")
    return found


def _count_new(rows: list[_Member], new: list[tuple[MessageRow, dict[str, Any]]], now: Any) -> None:
    """The new messages' conversations move to `now`; each participant's unread count rises
    by the messages of the others, in one UPDATE per distinct rise; a sender has read up to
    their own last message. Then the events of each message, in order."""
    of_conversation: dict[int, list[_Member]] = defaultdict(list)
    for row in rows:
        of_conversation[row.cid].append(row)
    sent = Counter(message.conversation_id for message, _ in new)
    own = Counter((message.conversation_id, message.sender_id) for message, _ in new)
    own_last = {(message.conversation_id, message.sender_id): message.pk for message, _ in new}
    delta: dict[int, int] = {}  # a row -> how much its unread count rises
    last_read: dict[int, int] = {}  # a sender's row -> their own last message
    by_rise: dict[int, list[int]] = defaultdict(list)  # a rise -> the conversations
    for cid in sent:
        by_rise[sent[cid]].append(cid)  # everyone but the senders: every message
        for row in of_conversation[cid]:
            delta[row.pk] = sent[cid] - own[(cid, row.uid)]
            if own[(cid, row.uid)]:
                last_read[row.pk] = own_last[(cid, row.uid)]

    batchsql.touch_conversations(list(sent), now)
    for up, cids in by_rise.items():
        batchsql.raise_unread(cids, up, now, but=list(last_read))
    batchsql.update_senders(delta, last_read, now)

    # everyone's totals after the batch, less what the batch added: the totals before it
    totals = _totals(rows, set(sent))
    for row in rows:
        if row.pk in delta:
            totals[(row.account_id, row.uid)] -= delta[row.pk]
    unread = {row.pk: row.unread for row in rows}
    out: list[Emitted] = []
    pushes: list[OfflinePush] = []
    for message, wire in new:
        everyone = of_conversation[message.conversation_id]
        others = [row for row in everyone if row.uid != message.sender_id]
        for row in others:
            unread[row.pk] += 1
            totals[(row.account_id, row.uid)] += 1
        _events(
            message,
            wire,
            users=[row.uid for row in everyone],
            unread={row.uid: unread[row.pk] for row in others},
            totals={row.uid: totals[(row.account_id, row.uid)] for row in others},
            out=out,
        )
        pushes.append(_push(message, others=[row.uid for row in others], title=everyone[0].title))
    emit_all_on_commit(out)
    events.pushes_on_commit(pushes)


def _totals(rows: list[_Member], cids: set[int]) -> dict[tuple[str, str], int]:
    """Each participant of `cids`' unread count over every conversation of their account, in
    one query whatever the number of accounts in the batch."""
    wanted = {(row.account_id, row.uid) for row in rows if row.cid in cids}
    if not wanted:
        return {}
    return {
        (account_id, uid): total
        for account_id, uid, total in batchsql.unread_totals(list(cids))
        if (account_id, uid) in wanted
    }


def _events(
    message: MessageRow,
    wire: dict[str, Any],
    *,
    users: list[str],
    unread: dict[str, int],
    totals: dict[str, int],
    out: list[Emitted],
) -> None:
    """After commit: `new_message` to every participant, `counter` to each other one."""
    events.to_users("new_message", {"message": wire}, uids=users, out=out)
    events.counters(message.conversation_id, unread, totals, out=out)


def _push(message: MessageRow, *, others: list[str], title: str) -> OfflinePush:
    """After commit, to those of the others with no live socket."""
    return OfflinePush(
        others,
        title=title or PUSH_TITLE,
        body=message.content or "📎",
        data={
            "type": "new_message",
            "conversation_id": str(message.conversation_id),
            "message_id": str(message.pk),
        },
    )
