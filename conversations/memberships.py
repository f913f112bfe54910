"""Participant rows, for team and prospect conversations alike: reads, and row writes.

`Memberships` holds the queries; an app's subclass names its models and fills in the hooks
(`wire`, `messages`, `message_wire`, `last_messages`, `search_q`). Its selectors are the
subclass's read methods, under the app's own names; its services call the row writes inside
their transaction and send their own events.
"""

from __future__ import annotations

import datetime as dt
from abc import ABC, abstractmethod
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db import connection, models
from django.db.models import (
    BigIntegerField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from realtime.envelope import Forbidden, NotFound

from .paging import Page, page_around, page_before
from .participation import ParticipantState

P = TypeVar("P", bound=ParticipantState)
COUNTED_STATES = ("open", "closed", "snoozed", "archived")
# the flag each state action sets (`snooze` sets `snoozed_until`)
STATE_FIELDS = {"open": "is_open", "archive": "archived", "show_on_top": "show_on_top"}


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
    last_read: str  # the participant's foreign key to the last message it has read
    related = "conversation"  # what `select_related` loads with a row for its wire shape

    @property
    def rows(self) -> QuerySet[P]:
        """Every participant row (of every conversation and account: filter it)."""
        return self.model._default_manager.all()

    @property
    def conversations(self) -> QuerySet[Any]:
        """Every conversation row (filter it)."""
        return self.conversation_model._default_manager.all()

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
        raise self.absent(cid=cid, account_id=account_id)

    def absent(self, *, cid: int, account_id: str) -> Forbidden | NotFound:
        """The error of a user with no row in `cid`: FORBIDDEN for a conversation of the
        account, NOT_FOUND outside it."""
        if self.conversations.filter(pk=cid, account_id=account_id).exists():
            return Forbidden("not a participant of this conversation")
        return NotFound("no such conversation")

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

    def in_conversation(self, conversation: models.Model) -> list[P]:
        """Every participant row of `conversation`."""
        return list(self.rows.filter(conversation=conversation))

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

    def read_up_to(self, cid: int, message_id: int | None) -> int | None:
        """The message read up to: `message_id` if it is in the conversation (else NOT_FOUND),
        the last one when None (None in an empty conversation)."""
        messages = self.messages(cid)
        if message_id is None:
            return messages.order_by("-id").values_list("id", flat=True).first()
        if not messages.filter(pk=message_id).exists():
            raise NotFound("no such message in this conversation")
        return message_id

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

    # ----- row writes (inside the caller's transaction) -----------------------------------

    def lock_users(self, cids: list[int]) -> None:
        """Lock every row of the users of `cids` in those conversations' accounts, in one
        order, until the commit (on PostgreSQL; SQLite's IMMEDIATE transaction holds the
        database's write lock already).

        A new message raises unread counts and then reads each user's total over the
        account. Another transaction raising the same user's count in another conversation
        at the same time would be missing from that total, uncommitted, and this one's from
        its total: both `counter`s one short. With the users' rows held, the second waits
        for the first and counts it. One order (joining, then id) for every such lock: no
        two of them wait for each other. (A batch of team messages takes the same locks in
        its first statement: `batchsql.locked_members`.)
        """
        if not connection.features.has_select_for_update:
            return
        users = self.rows.filter(conversation_id__in=cids)
        rows = self.rows.filter(
            uid__in=users.values("uid"), account_id__in=users.values("account_id")
        )
        list(rows.order_by("joined_at", "pk").select_for_update().values_list("pk", flat=True))

    def add(self, conversation: Any, uids: list[str], now: dt.datetime) -> list[P]:
        """A row for each of `uids`; a concurrent add of the same user wins quietly."""
        members = [
            self.model(
                conversation=conversation,
                uid=uid,
                account_id=conversation.account_id,
                last_activity=conversation.last_activity,
                joined_at=now,
            )
            for uid in uids
        ]
        self.rows.bulk_create(members, ignore_conflicts=True)
        return members

    def add_missing(
        self, conversation: Any, uids: list[str], now: dt.datetime
    ) -> tuple[list[P], list[P]]:
        """Add those of `uids` not in yet: (the rows there before, the rows added)."""
        existing = self.in_conversation(conversation)
        known = {member.uid for member in existing}
        missing = [uid for uid in dict.fromkeys(uids) if uid not in known]
        return existing, self.add(conversation, missing, now)

    def state_set(
        self, participant: P, *, action: str, value: bool, until: dt.datetime | None
    ) -> None:
        """`open` / `archive` / `show_on_top` to `value`, or `snooze` until `until` (`value`
        false: not snoozed), on the row and on `participant`."""
        if action == "snooze":
            changes: dict[str, Any] = {"snoozed_until": until if value else None}
        else:
            changes = {STATE_FIELDS[action]: value}
        self.rows.filter(pk=participant.pk).update(**changes)
        for name, new in changes.items():
            setattr(participant, name, new)

    def read_set(self, participant: P, message_id: int | None) -> None:
        """The user has read up to `message_id`: no unread message left."""
        last_read = {f"{self.last_read}_id": message_id}
        self.rows.filter(pk=participant.pk).update(unread_count=0, **last_read)

    def conversation_change(
        self, conversation: Any, *, title: str | None, image: str | None
    ) -> bool:
        """Set the title and/or image given (None: unchanged); whether anything was set."""
        pairs = (("title", title), ("image", image))
        changes = {name: value for name, value in pairs if value is not None}
        if changes:
            self.conversations.filter(pk=conversation.pk).update(**changes)
            for name, value in changes.items():
                setattr(conversation, name, value)
        return bool(changes)

    def count_new(
        self, conversation: Any, *, sender: str | None, message_id: int, at: dt.datetime
    ) -> NewMessageCounts:
        """A new message: the conversation's activity moves to `at`; every participant's
        unread count but the sender's rises, in one statement (the sender has read it)."""
        self.lock_users([conversation.pk])
        self.conversations.filter(pk=conversation.pk).update(last_activity=at)
        last_read = f"{self.last_read}_id"
        own = When(uid=sender, then=Value(message_id))
        self.rows.filter(conversation=conversation).update(
            unread_count=Case(
                When(uid=sender, then=F("unread_count")), default=F("unread_count") + 1
            ),
            **{last_read: Case(own, default=F(last_read), output_field=BigIntegerField())},
            last_activity=at,
        )
        unread = self.unread(cid=conversation.pk, account_id=conversation.account_id)
        others = [uid for uid in unread if uid != sender]
        return NewMessageCounts(
            users=list(unread),
            unread={uid: unread[uid][0] for uid in others},
            totals={uid: unread[uid][1] for uid in others},
        )


@dataclass(frozen=True, slots=True)
class NewMessageCounts:
    """Who takes part in a conversation with a new message, and the others' new counts."""

    users: list[str]  # every participant, in the order they joined
    unread: dict[str, int]  # each participant but the sender: unread here
    totals: dict[str, int]  # and over the account

    @property
    def others(self) -> list[str]:
        """Every participant but the sender (those whose counts rose)."""
        return list(self.unread)
