"""Reads of conversations and messages, always within the reader's account (sync ORM code)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from realtime.envelope import Forbidden, NotFound

from .models import Conversation, Message, Participant
from .wire import conversation_wire, message_wire

LAST_MESSAGES = 5  # per conversation in `messageList`


def member_get(*, cid: int, uid: str, account_id: str) -> Participant:
    """The user's participation (with its conversation); NOT_FOUND outside the account,
    FORBIDDEN for a conversation of the account the user is not in."""
    participant = (
        Participant.objects.select_related("conversation")
        .filter(conversation_id=cid, uid=uid, account_id=account_id)
        .first()
    )
    if participant is not None:
        return participant
    if Conversation.objects.filter(pk=cid, account_id=account_id).exists():
        raise Forbidden("not a participant of this conversation")
    raise NotFound("no such conversation")


def conversation_users(*, cid: int) -> list[str]:
    """The participants' uids, in the order they joined."""
    return list(
        Participant.objects.filter(conversation_id=cid)
        .order_by("joined_at", "id")
        .values_list("uid", flat=True)
    )


def users_by_conversation(*, cids: list[int]) -> dict[int, list[str]]:
    users: dict[int, list[str]] = defaultdict(list)
    rows = (
        Participant.objects.filter(conversation_id__in=cids)
        .order_by("joined_at", "id")
        .values_list("conversation_id", "uid")
    )
    for cid, uid in rows:
        users[cid].append(uid)
    return users


def member_conversation(participant: Participant) -> dict[str, Any]:
    """The conversation on the wire, as this participant sees it."""
    users = conversation_users(cid=participant.conversation_id)
    return conversation_wire(participant.conversation, users, participant)


def conversation_get(*, cid: int, uid: str, account_id: str) -> dict[str, Any]:
    return member_conversation(member_get(cid=cid, uid=uid, account_id=account_id))


def member_other_uids(*, cid: int, uid: str, account_id: str) -> list[str]:
    """The other participants of a conversation the user is in (for typing)."""
    member_get(cid=cid, uid=uid, account_id=account_id)
    return [other for other in conversation_users(cid=cid) if other != uid]


# ----- lists and counters -----------------------------------------------------------------


def status_q(status: str | None, now: dt.datetime) -> Q:
    """The participant rows a list `status` filter keeps (no status: everything not archived)."""
    live = Q(archived=False)
    not_snoozed = Q(snoozed_until__isnull=True) | Q(snoozed_until__lte=now)
    filters = {
        None: live,
        "all": Q(),
        "open": live & Q(is_open=True) & not_snoozed,
        "closed": live & Q(is_open=False),
        "snoozed": live & Q(snoozed_until__gt=now),
        "archived": Q(archived=True),
        "unread": live & Q(unread_count__gt=0),
    }
    return filters[status or None]


def _memberships(uid: str, account_id: str, channel_id: str | None) -> Any:
    rows = Participant.objects.filter(uid=uid, account_id=account_id)
    if channel_id:
        rows = rows.filter(conversation__channel_id=channel_id)
    return rows


def _search_q(search: str) -> Q:
    named = Q(conversation__title__icontains=search)
    with_user = Exists(
        Participant.objects.filter(conversation_id=OuterRef("conversation_id"), uid=search)
    )
    return named | Q(with_user)


def conversation_list(
    *,
    uid: str,
    account_id: str,
    status: str | None = None,
    channel_id: str | None = None,
    search: str | None = None,
    page: int = 1,
    limit: int = 20,
) -> dict[str, Any]:
    """A page of the user's conversations, pinned first then most recent, with last messages."""
    rows = _memberships(uid, account_id, channel_id).filter(status_q(status, timezone.now()))
    if search:
        rows = rows.filter(_search_q(search))
    total = rows.count()
    offset = (page - 1) * limit
    page_rows = list(
        rows.select_related("conversation").order_by(
            "-show_on_top", "-last_activity", "-conversation_id"
        )[offset : offset + limit]
    )
    cids = [row.conversation_id for row in page_rows]
    users = users_by_conversation(cids=cids)
    return {
        "conversation": [
            conversation_wire(r.conversation, users[r.conversation_id], r) for r in page_rows
        ],
        "messageList": last_messages(cids=cids),
        "paging": {"page": page, "limit": limit, "total": total},
    }


def last_messages(*, cids: list[int], count: int = LAST_MESSAGES) -> dict[str, list[dict]]:
    """Each conversation's last `count` messages, oldest first, in one query."""
    ranked = (
        Message.objects.filter(conversation_id__in=cids)
        .annotate(
            rank=Window(RowNumber(), partition_by=[F("conversation_id")], order_by=F("id").desc())
        )
        .filter(rank__lte=count)
        .order_by("conversation_id", "id")
    )
    result: dict[str, list[dict]] = {str(cid): [] for cid in cids}
    for message in ranked:
        result[str(message.conversation_id)].append(message_wire(message))
    return result


def conversation_counters(
    *, uid: str, account_id: str, channel_id: str | None = None
) -> dict[str, int]:
    """`channel`'s counters: unread totals and how many conversations are in each state."""
    now = timezone.now()
    counted = {
        name: Count("id", filter=status_q(name, now))
        for name in ("open", "closed", "snoozed", "archived")
    }
    return _memberships(uid, account_id, channel_id).aggregate(
        total_unread=Coalesce(Sum("unread_count"), 0),
        unread_conversations=Count("id", filter=Q(unread_count__gt=0)),
        **counted,
    )


def unread_totals(*, uids: list[str], account_id: str) -> dict[str, int]:
    """Each user's unread messages over every conversation of the account, in one query."""
    rows = (
        Participant.objects.filter(uid__in=uids, account_id=account_id)
        .values("uid")
        .annotate(total=Coalesce(Sum("unread_count"), 0))
        .values_list("uid", "total")
    )
    return {uid: 0 for uid in uids} | dict(rows)


def member_unread(*, cid: int, account_id: str) -> dict[str, tuple[int, int]]:
    """Each participant's unread count here and over the account, in one query."""
    totals = (
        Participant.objects.filter(uid=OuterRef("uid"), account_id=account_id)
        .values("uid")
        .annotate(total=Sum("unread_count"))
        .values("total")
    )
    rows = (
        Participant.objects.filter(conversation_id=cid)
        .annotate(total=Coalesce(Subquery(totals), 0))
        .order_by("joined_at", "id")
        .values_list("uid", "unread_count", "total")
    )
    return {uid: (unread, total) for uid, unread, total in rows}


# ----- message pages ----------------------------------------------------------------------


def message_page(
    *, cid: int, uid: str, account_id: str, before: int | None = None, limit: int = 30
) -> dict[str, Any]:
    """Messages older than `before` (the newest without it), oldest first, with a cursor."""
    participant = member_get(cid=cid, uid=uid, account_id=account_id)
    rows = Message.objects.filter(conversation_id=cid)
    if before is not None:
        rows = rows.filter(id__lt=before)
    newest_first = list(rows.order_by("-id")[: limit + 1])
    has_more = len(newest_first) > limit
    messages = newest_first[:limit][::-1]
    return {
        "conversation": member_conversation(participant),
        "messages": [message_wire(message) for message in messages],
        "paging": {
            "limit": limit,
            "before": None if before is None else str(before),
            "has_more": has_more,
            "next_before": str(messages[0].pk) if has_more else None,
        },
    }


def message_around(
    *, cid: int, uid: str, account_id: str, message_id: int, limit: int = 30
) -> dict[str, Any]:
    """Up to `limit` messages centred on `message_id` (included), oldest first."""
    participant = member_get(cid=cid, uid=uid, account_id=account_id)
    rows = Message.objects.filter(conversation_id=cid)
    if not rows.filter(pk=message_id).exists():
        raise NotFound("no such message in this conversation")
    older_count = (limit - 1) // 2
    newer_count = limit - older_count
    older = list(rows.filter(id__lt=message_id).order_by("-id")[: older_count + 1])
    newer = list(rows.filter(id__gte=message_id).order_by("id")[: newer_count + 1])
    messages = older[:older_count][::-1] + newer[:newer_count]
    return {
        "conversation": member_conversation(participant),
        "messages": [message_wire(message) for message in messages],
        "paging": {
            "limit": limit,
            "message_id": str(message_id),
            "has_before": len(older) > older_count,
            "has_after": len(newer) > newer_count,
        },
    }


def channel_overview(*, uid: str, account_id: str, channel_id: str | None = None) -> dict[str, Any]:
    """`channel`: the user's counters and first page of conversations, in one channel or all."""
    listing = conversation_list(uid=uid, account_id=account_id, channel_id=channel_id)
    return {
        "counters": conversation_counters(uid=uid, account_id=account_id, channel_id=channel_id),
        "conversation": listing["conversation"],
    }
