"""Reads of prospect conversations and communications, always within the reader's account."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from django.db.models import Count, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Window
from django.db.models.functions import Coalesce, RowNumber
from django.utils import timezone

from conversations.selectors import status_q
from realtime.envelope import Forbidden, NotFound

from .models import Communication, ConversationProspect, LiveVisitor, ProspectParticipant
from .wire import communication_wire, conversation_wire

LAST_MESSAGES = 5  # per conversation in `messageList`
Through = Communication.conversations.through


def member_get(*, cid: int, uid: str, account_id: str) -> ProspectParticipant:
    """The user's participation (with conversation and contact); NOT_FOUND outside the
    account, FORBIDDEN for a conversation of the account the user is not in."""
    participant = (
        ProspectParticipant.objects.select_related("conversation__contact")
        .filter(conversation_id=cid, uid=uid, account_id=account_id)
        .first()
    )
    if participant is not None:
        return participant
    if ConversationProspect.objects.filter(pk=cid, account_id=account_id).exists():
        raise Forbidden("not a participant of this conversation")
    raise NotFound("no such conversation")


def conversation_users(*, cid: int) -> list[str]:
    """The participants' uids, in the order they joined."""
    return list(
        ProspectParticipant.objects.filter(conversation_id=cid)
        .order_by("joined_at", "id")
        .values_list("uid", flat=True)
    )


def users_by_conversation(*, cids: list[int]) -> dict[int, list[str]]:
    users: dict[int, list[str]] = defaultdict(list)
    rows = (
        ProspectParticipant.objects.filter(conversation_id__in=cids)
        .order_by("joined_at", "id")
        .values_list("conversation_id", "uid")
    )
    for cid, uid in rows:
        users[cid].append(uid)
    return users


def conversation_visitors(*, cid: int) -> list[str]:
    """The live-chat visitor ids seen in the conversation (their `visitor:` rooms)."""
    rows = LiveVisitor.objects.filter(conversation_id=cid)
    return list(rows.values_list("visitor_id", flat=True))


def member_conversation(participant: ProspectParticipant) -> dict[str, Any]:
    users = conversation_users(cid=participant.conversation_id)
    return conversation_wire(participant.conversation, users, participant)


def conversation_get(*, cid: int, uid: str, account_id: str) -> dict[str, Any]:
    return member_conversation(member_get(cid=cid, uid=uid, account_id=account_id))


# ----- lists and counters -----------------------------------------------------------------


def _search_q(search: str) -> Q:
    """Title, the contact's name, email or phone, or a participant's exact uid."""
    text = (
        Q(conversation__title__icontains=search)
        | Q(conversation__contact__name__icontains=search)
        | Q(conversation__contact__email__icontains=search)
        | Q(conversation__contact__phone__icontains=search)
    )
    with_user = Exists(
        ProspectParticipant.objects.filter(conversation_id=OuterRef("conversation_id"), uid=search)
    )
    return text | Q(with_user)


def _memberships(uid: str, account_id: str, channel_id: str | None) -> QuerySet:
    rows = ProspectParticipant.objects.filter(uid=uid, account_id=account_id)
    if channel_id:
        rows = rows.filter(conversation__channel_id=channel_id)
    return rows


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
    """A page of the user's prospect conversations, pinned first then most recent, each with
    its last communications."""
    rows = _memberships(uid, account_id, channel_id).filter(status_q(status, timezone.now()))
    if search:
        rows = rows.filter(_search_q(search))
    total = rows.count()
    offset = (page - 1) * limit
    page_rows = list(
        rows.select_related("conversation__contact").order_by(
            "-show_on_top", "-last_activity", "-conversation_id"
        )[offset : offset + limit]
    )
    cids = [row.conversation_id for row in page_rows]
    users = users_by_conversation(cids=cids)
    return {
        "conversation": [
            conversation_wire(r.conversation, users[r.conversation_id], r) for r in page_rows
        ],
        "messageList": last_communications(cids=cids, uid=uid),
        "paging": {"page": page, "limit": limit, "total": total},
    }


def last_communications(
    *, cids: list[int], uid: str, count: int = LAST_MESSAGES
) -> dict[str, list[dict]]:
    """Each conversation's last `count` communications, oldest first, in one query."""
    ranked = (
        Through.objects.filter(conversationprospect_id__in=cids)
        .annotate(
            rank=Window(
                RowNumber(),
                partition_by=[F("conversationprospect_id")],
                order_by=F("communication_id").desc(),
            )
        )
        .filter(rank__lte=count)
        .select_related("communication")
        .order_by("conversationprospect_id", "communication_id")
    )
    result: dict[str, list[dict]] = {str(cid): [] for cid in cids}
    for row in ranked:
        cid = row.conversationprospect_id
        result[str(cid)].append(_as_seen_by(row.communication, cid, uid))
    return result


def _as_seen_by(communication: Communication, cid: int, uid: str) -> dict[str, Any]:
    return communication_wire(communication, cid=cid, is_sender=is_sender(communication, uid))


def is_sender(communication: Communication, uid: str) -> bool:
    """Whether `uid` (a staff user) sent it: only OUTGOING communications have a user sender."""
    return communication.type == Communication.Type.OUTGOING and communication.sent_by == uid


def conversation_counters(
    *, uid: str, account_id: str, channel_id: str | None = None
) -> dict[str, int]:
    """Unread totals and how many prospect conversations are in each state."""
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
    """Each user's unread communications over the account's prospect conversations."""
    rows = (
        ProspectParticipant.objects.filter(uid__in=uids, account_id=account_id)
        .values("uid")
        .annotate(total=Coalesce(Sum("unread_count"), 0))
        .values_list("uid", "total")
    )
    return {uid: 0 for uid in uids} | dict(rows)


def member_unread(*, cid: int, account_id: str) -> dict[str, tuple[int, int]]:
    """Each participant's unread count here and over the account, in one query."""
    totals = (
        ProspectParticipant.objects.filter(uid=OuterRef("uid"), account_id=account_id)
        .values("uid")
        .annotate(total=Sum("unread_count"))
        .values("total")
    )
    rows = (
        ProspectParticipant.objects.filter(conversation_id=cid)
        .annotate(total=Coalesce(Subquery(totals), 0))
        .order_by("joined_at", "id")
        .values_list("uid", "unread_count", "total")
    )
    return {uid: (unread, total) for uid, unread, total in rows}


# ----- communication pages ----------------------------------------------------------------


def conversation_communications(cid: int) -> QuerySet[Communication]:
    return Communication.objects.filter(conversations=cid)


def communication_page(
    *, cid: int, uid: str, account_id: str, before: int | None = None, limit: int = 30
) -> dict[str, Any]:
    """Communications older than `before` (the newest without it), oldest first."""
    participant = member_get(cid=cid, uid=uid, account_id=account_id)
    page = communications_before(cid=cid, before=before, limit=limit)
    return {
        "conversation": member_conversation(participant),
        "messages": [_as_seen_by(c, cid, uid) for c in page["rows"]],
        "paging": page["paging"],
    }


def communications_before(*, cid: int, before: int | None, limit: int) -> dict[str, Any]:
    """One page of a conversation's communications (rows, oldest first) and its cursor."""
    rows = conversation_communications(cid)
    if before is not None:
        rows = rows.filter(id__lt=before)
    newest_first = list(rows.order_by("-id")[: limit + 1])
    has_more = len(newest_first) > limit
    page = newest_first[:limit][::-1]
    return {
        "rows": page,
        "paging": {
            "limit": limit,
            "before": None if before is None else str(before),
            "has_more": has_more,
            "next_before": str(page[0].pk) if has_more else None,
        },
    }


def communication_around(
    *, cid: int, uid: str, account_id: str, message_id: int, limit: int = 30
) -> dict[str, Any]:
    """Up to `limit` communications centred on `message_id` (included), oldest first."""
    participant = member_get(cid=cid, uid=uid, account_id=account_id)
    rows = conversation_communications(cid)
    if not rows.filter(pk=message_id).exists():
        raise NotFound("no such message in this conversation")
    older_count = (limit - 1) // 2
    newer_count = limit - older_count
    older = list(rows.filter(id__lt=message_id).order_by("-id")[: older_count + 1])
    newer = list(rows.filter(id__gte=message_id).order_by("id")[: newer_count + 1])
    page = older[:older_count][::-1] + newer[:newer_count]
    return {
        "conversation": member_conversation(participant),
        "messages": [_as_seen_by(c, cid, uid) for c in page],
        "paging": {
            "limit": limit,
            "message_id": str(message_id),
            "has_before": len(older) > older_count,
            "has_after": len(newer) > newer_count,
        },
    }
