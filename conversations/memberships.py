"""Reads over participant rows, for team and prospect conversations alike (sync ORM code).

`Memberships` holds the queries; an app's subclass names its models and fills in the hooks
(`wire`, `messages`, `message_wire`, `last_messages`, `search_q`); its selectors are the
subclass's bound methods, under the app's own names.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Any, Generic, TypeVar

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtime.envelope import Forbidden, NotFound

from .paging import Page, page_around, page_before
from .participation import ParticipantState

P = TypeVar("P", bound=ParticipantState)
COUNTED_STATES = ("open", "closed", "snoozed", "archived")


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


class Memberships(ABC, Generic[P]):
    """The participant rows of one model, each user's own state of one kind of conversation."""

    model: type[P]  # the participant model
    conversation_model: type[models.Model]
    related = "conversation"  # what `select_related` loads with a row for its wire shape

    @property
    def rows(self) -> QuerySet[P]:
        """Every participant row (of every conversation and account: filter it)."""
        return self.model._default_manager.all()

    # ----- hooks ------------------------------------------------------------------------

    @abstractmethod
    def wire(self, participant: P, users: list[str]) -> dict[str, Any]:
        """The conversation as `participant`'s user sees it."""

    @abstractmethod
    def messages(self, cid: int) -> QuerySet[Any]:
        """The conversation's messages."""

    @abstractmethod
    def message_wire(self, message: Any, *, cid: int, uid: str) -> dict[str, Any]:
        """A message of conversation `cid` as `uid` sees it."""

    @abstractmethod
    def last_messages(self, *, cids: list[int], uid: str) -> dict[str, list[dict]]:
        """Each conversation's last messages (oldest first) as `uid` sees them."""

    def search_q(self, search: str) -> Q:
        """The rows a list `search` keeps: the title, or a participant's exact uid."""
        return Q(conversation__title__icontains=search) | self.member_q(search)

    def member_q(self, uid: str) -> Q:
        """The rows of conversations `uid` takes part in."""
        return Q(Exists(self.rows.filter(conversation_id=OuterRef("conversation_id"), uid=uid)))

    # ----- one conversation -------------------------------------------------------------

    def get(self, *, cid: int, uid: str, account_id: str) -> P:
        """The user's participation (with its conversation); NOT_FOUND outside the account,
        FORBIDDEN for a conversation of the account the user is not in."""
        rows = self.rows.select_related(self.related)
        participant = rows.filter(conversation_id=cid, uid=uid, account_id=account_id).first()
        if participant is not None:
            return participant
        if self.conversation_model._default_manager.filter(pk=cid, account_id=account_id).exists():
            raise Forbidden("not a participant of this conversation")
        raise NotFound("no such conversation")

    def uids(self, *, cid: int) -> list[str]:
        """The participants' uids, in the order they joined."""
        rows = self.rows.filter(conversation_id=cid).order_by("joined_at", "id")
        return list(rows.values_list("uid", flat=True))

    def uids_by_conversation(self, *, cids: list[int]) -> dict[int, list[str]]:
        users: dict[int, list[str]] = defaultdict(list)
        rows = self.rows.filter(conversation_id__in=cids).order_by("joined_at", "id")
        for cid, uid in rows.values_list("conversation_id", "uid"):
            users[cid].append(uid)
        return users

    def conversation_of(self, participant: P) -> dict[str, Any]:
        """The conversation on the wire, as this participant sees it."""
        return self.wire(participant, self.uids(cid=participant.conversation_id))

    def conversation_get(self, *, cid: int, uid: str, account_id: str) -> dict[str, Any]:
        return self.conversation_of(self.get(cid=cid, uid=uid, account_id=account_id))

    # ----- lists and counters -----------------------------------------------------------

    def of_user(self, uid: str, account_id: str, channel_id: str | None) -> QuerySet[P]:
        rows = self.rows.filter(uid=uid, account_id=account_id)
        if channel_id:
            rows = rows.filter(conversation__channel_id=channel_id)
        return rows

    def listing(
        self,
        *,
        uid: str,
        account_id: str,
        status: str | None = None,
        channel_id: str | None = None,
        search: str | None = None,
        page: int = 1,
        limit: int = 20,
    ) -> dict[str, Any]:
        """A page of the user's conversations, pinned first then most recent, each with its
        last messages."""
        rows = self.of_user(uid, account_id, channel_id).filter(status_q(status, timezone.now()))
        if search:
            rows = rows.filter(self.search_q(search))
        total = rows.count()
        offset = (page - 1) * limit
        ordered = rows.select_related(self.related).order_by(
            "-show_on_top", "-last_activity", "-conversation_id"
        )
        page_rows = list(ordered[offset : offset + limit])
        cids = [row.conversation_id for row in page_rows]
        users = self.uids_by_conversation(cids=cids)
        return {
            "conversation": [self.wire(row, users[row.conversation_id]) for row in page_rows],
            "messageList": self.last_messages(cids=cids, uid=uid),
            "paging": {"page": page, "limit": limit, "total": total},
        }

    def counters(
        self, *, uid: str, account_id: str, channel_id: str | None = None
    ) -> dict[str, int]:
        """Unread totals and how many conversations are in each state."""
        now = timezone.now()
        counted = {name: Count("id", filter=status_q(name, now)) for name in COUNTED_STATES}
        return self.of_user(uid, account_id, channel_id).aggregate(
            total_unread=Coalesce(Sum("unread_count"), 0),
            unread_conversations=Count("id", filter=Q(unread_count__gt=0)),
            **counted,
        )

    def unread_totals(self, *, uids: list[str], account_id: str) -> dict[str, int]:
        """Each user's unread messages over every conversation of the account, in one query."""
        rows = (
            self.rows.filter(uid__in=uids, account_id=account_id)
            .values("uid")
            .annotate(total=Coalesce(Sum("unread_count"), 0))
            .values_list("uid", "total")
        )
        return {uid: 0 for uid in uids} | dict(rows)

    def unread(self, *, cid: int, account_id: str) -> dict[str, tuple[int, int]]:
        """Each participant's unread count here and over the account, in one query."""
        totals = (
            self.rows.filter(uid=OuterRef("uid"), account_id=account_id)
            .values("uid")
            .annotate(total=Sum("unread_count"))
            .values("total")
        )
        rows = (
            self.rows.filter(conversation_id=cid)
            .annotate(total=Coalesce(Subquery(totals), 0))
            .order_by("joined_at", "id")
            .values_list("uid", "unread_count", "total")
        )
        return {uid: (unread, total) for uid, unread, total in rows}

    # ----- message pages ----------------------------------------------------------------

    def message_page(
        self, *, cid: int, uid: str, account_id: str, before: int | None = None, limit: int = 30
    ) -> dict[str, Any]:
        """Messages older than `before` (the newest without it), oldest first, with a cursor."""
        participant = self.get(cid=cid, uid=uid, account_id=account_id)
        page = page_before(self.messages(cid), before=before, limit=limit)
        return self._page_wire(participant, page, cid=cid, uid=uid)

    def message_around(
        self, *, cid: int, uid: str, account_id: str, message_id: int, limit: int = 30
    ) -> dict[str, Any]:
        """Up to `limit` messages centred on `message_id` (included), oldest first."""
        participant = self.get(cid=cid, uid=uid, account_id=account_id)
        page = page_around(self.messages(cid), message_id=message_id, limit=limit)
        return self._page_wire(participant, page, cid=cid, uid=uid)

    def _page_wire(self, participant: P, page: Page, *, cid: int, uid: str) -> dict[str, Any]:
        return {
            "conversation": self.conversation_of(participant),
            "messages": [self.message_wire(row, cid=cid, uid=uid) for row in page.rows],
            "paging": page.paging,
        }
