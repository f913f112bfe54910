"""Messages: many senders' messages stored in one transaction (group commit).

`messages_send` stores a batch with a fixed handful of statements, whatever its size: the
participant rows of its conversations (locked), one INSERT of the new messages, one UPDATE of
the conversations and one per distinct unread increase, one read of the recipients' totals.
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
from django.db.models import F, OuterRef, Subquery, Sum
from django.utils import timezone

from realtime.batching import GroupCommit
from realtime.emit import Emitted, emit_all_on_commit
from realtime.push.notify import OfflinePush

from . import events
from .models import Conversation, Message, Participant
from .selectors import members
from .wire import message_wire

PUSH_TITLE = "New message"
MAX_BATCH = 100  # messages per transaction

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


# a participant row as `_Member` reads it
MEMBER_FIELDS = ("id", "conversation_id", "uid", "account_id", "unread_count",
                 "conversation__title")  # fmt: skip


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


def _store(requests: list[MessageRequest]) -> list[MessageSent | Exception]:
    """Check each sender's membership, store the new messages once each, count them."""
    now = timezone.now()
    cids = list(dict.fromkeys(request.cid for request in requests))
    rows = [_Member(*row) for row in _locked_members(cids)]
    by_user = {(row.cid, row.uid): row for row in rows}

    outcomes: dict[int, MessageSent | Exception] = {}
    fresh: dict[tuple[Any, ...], Message] = {}  # by client id (no client id: by position)
    keys: dict[int, tuple[Any, ...]] = {}  # each request that may store -> its message's key
    for i, request in enumerate(requests):
        member = by_user.get((request.cid, request.uid))
        if member is None or member.account_id != request.account_id:
            outcomes[i] = members.absent(cid=request.cid, account_id=request.account_id)
            continue
        keys[i] = request.key if request.client_msg_id is not None else (i,)
        if keys[i] not in fresh:  # else the same client id twice in the batch: stored once
            fresh[keys[i]] = Message(
                conversation_id=request.cid,
                sender_id=request.uid,
                content=request.content,
                attachments=request.attachments or [],
                client_msg_id=request.client_msg_id,
                created_at=now,
            )
    stored = _insert(fresh)

    new: list[Message] = []
    told: set[tuple[Any, ...]] = set()  # the keys whose first request was answered
    for i, key in keys.items():
        message = stored.get(key) or fresh[key]
        created = key not in stored and key not in told
        told.add(key)
        if created:
            new.append(message)
        outcomes[i] = (message_wire(message), created)
    if new:
        _count_new(rows, new, now)
    return [outcomes[i] for i in range(len(requests))]


def _locked_members(cids: list[int]) -> list[tuple[Any, ...]]:
    """The conversations' participant rows, locked in one order (PostgreSQL; SQLite's
    IMMEDIATE transaction holds the database's write lock already)."""
    return list(
        Participant.objects.filter(conversation_id__in=cids)
        .select_for_update(of=("self",))
        .order_by("joined_at", "id")
        .values_list(*MEMBER_FIELDS)
    )


def _insert(fresh: dict[tuple[Any, ...], Message]) -> dict[tuple[Any, ...], Message]:
    """One INSERT of every message; the ones already stored under their client id (a retry
    of a message committed before) are found and left out: {their key: the stored row}."""
    if not fresh:
        return {}
    keyed = any(message.client_msg_id is not None for message in fresh.values())
    if not keyed:
        Message.objects.bulk_create(list(fresh.values()))
        return {}
    try:
        with transaction.atomic():  # a savepoint: a client id may be stored already
            Message.objects.bulk_create(list(fresh.values()))
        return {}
    except IntegrityError:
        pass
    stored: dict[tuple[Any, ...], Message] = {}
    for key, message in fresh.items():
        if message.client_msg_id is not None:
            found = Message.objects.filter(
                conversation_id=message.conversation_id,
                sender_id=message.sender_id,
                client_msg_id=message.client_msg_id,
            ).first()
            if found is not None:
                stored[key] = found
    Message.objects.bulk_create([m for key, m in fresh.items() if key not in stored])
    return stored


def _count_new(rows: list[_Member], new: list[Message], now: Any) -> None:
    """The new messages' conversations move to `now`; each participant's unread count rises
    by the messages of the others, in one UPDATE per distinct rise; a sender has read up to
    their own last message. Then the events of each message, in order."""
    of_conversation: dict[int, list[_Member]] = defaultdict(list)
    for row in rows:
        of_conversation[row.cid].append(row)
    sent = Counter(message.conversation_id for message in new)
    own = Counter((message.conversation_id, message.sender_id) for message in new)
    delta: dict[int, int] = {}  # a row -> how much its unread count rises
    senders: dict[int, list[int]] = defaultdict(list)  # a rise -> the senders' rows
    by_rise: dict[int, list[int]] = defaultdict(list)  # a rise -> the conversations
    for cid in sent:
        by_rise[sent[cid]].append(cid)  # everyone but the senders: every message
        for row in of_conversation[cid]:
            delta[row.pk] = sent[cid] - own[(cid, row.uid)]
            if own[(cid, row.uid)]:
                senders[delta[row.pk]].append(row.pk)

    Conversation.objects.filter(pk__in=list(sent)).update(last_activity=now)
    first_new = min(message.pk for message in new)
    own_last = Subquery(
        Message.objects.filter(
            conversation_id=OuterRef("conversation_id"),
            sender_id=OuterRef("uid"),
            pk__gte=first_new,
        )
        .order_by("-pk")
        .values("pk")[:1]
    )
    # by conversation, not by row: a statement's parameters grow with the batch, not with
    # the participants of its conversations
    all_senders = [pk for pks in senders.values() for pk in pks]
    for up, cids in by_rise.items():
        rows_of = Participant.objects.filter(conversation_id__in=cids).exclude(pk__in=all_senders)
        rows_of.update(unread_count=F("unread_count") + up, last_activity=now)
    for up, pks in senders.items():
        changes: dict[str, Any] = {"last_activity": now, "last_read_message_id": own_last}
        if up:
            changes["unread_count"] = F("unread_count") + up
        Participant.objects.filter(pk__in=pks).update(**changes)

    # everyone's totals after the batch, less what the batch added: the totals before it
    totals = _totals(rows, set(sent))
    for row in rows:
        if row.pk in delta:
            totals[(row.account_id, row.uid)] -= delta[row.pk]
    unread = {row.pk: row.unread for row in rows}
    out: list[Emitted] = []
    pushes: list[OfflinePush] = []
    for message in new:
        everyone = of_conversation[message.conversation_id]
        others = [row for row in everyone if row.uid != message.sender_id]
        for row in others:
            unread[row.pk] += 1
            totals[(row.account_id, row.uid)] += 1
        _events(
            message,
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
    one query whatever the number of accounts in the batch.

    The query selects by user only and the accounts are picked here: with `account_id IN`
    beside `uid IN`, SQLite probes its (uid, account_id) index for every user and account
    pair of the batch (100 accounts of 10 users: 100,000 probes, 19 ms instead of 3).
    """
    wanted = {(row.account_id, row.uid) for row in rows if row.cid in cids}
    if not wanted:
        return {}
    users = Participant.objects.filter(conversation_id__in=list(cids)).values("uid")
    sums = (
        Participant.objects.filter(uid__in=users)
        .values("account_id", "uid")
        .annotate(total=Sum("unread_count"))
        .values_list("account_id", "uid", "total")
    )
    return {
        (account_id, uid): total for account_id, uid, total in sums if (account_id, uid) in wanted
    }


def _events(
    message: Message,
    *,
    users: list[str],
    unread: dict[str, int],
    totals: dict[str, int],
    out: list[Emitted],
) -> None:
    """After commit: `new_message` to every participant, `counter` to each other one."""
    wire = message_wire(message)
    events.to_users("new_message", {"message": wire}, uids=users, out=out)
    events.counters(message.conversation_id, unread, totals, out=out)


def _push(message: Message, *, others: list[str], title: str) -> OfflinePush:
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
