"""A user's own state of a conversation: the abstract model team and prospect participants share."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone


class ParticipantState(models.Model):
    """A user in a conversation, with that user's own state of it.

    A concrete model adds its `conversation` foreign key, its last-read foreign key and the
    names of its constraints and index (`state_constraints`, `state_user_index`).
    `account_id` and `last_activity` repeat the conversation's, so a user's list and totals
    read these rows alone.

    Every message raises `unread_count` and moves `last_activity` on the rows of its
    conversation's participants, so neither is in an index: on PostgreSQL such an UPDATE
    is a HOT update (no index touched, the old row version pruned in its page), where an
    indexed `last_activity` made each one write every index of the table and leave a dead
    row version behind (a batch of 50 messages in conversations of 10 took 31-48 ms on
    PostgreSQL, growing with the dead versions, against 18-26 ms without; bench/RESULTS.md).
    A user's list is sorted after the index finds the user's rows; the list counts them all
    anyway.
    """

    uid = models.CharField(max_length=128)
    account_id = models.CharField(max_length=128)
    unread_count = models.PositiveIntegerField(default=0)
    is_open = models.BooleanField(default=True)
    snoozed_until = models.DateTimeField(null=True, blank=True)
    archived = models.BooleanField(default=False)
    show_on_top = models.BooleanField(default=False)
    last_activity = models.DateTimeField(default=timezone.now)
    joined_at = models.DateTimeField(default=timezone.now)

    conversation_id: int  # the concrete model's foreign key

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.uid} in {self.conversation_id}"


def state_constraints(*, once: str, unread_not_negative: str) -> list[models.BaseConstraint]:
    """One row per user and conversation; an unread count never below zero."""
    return [
        models.UniqueConstraint(fields=["conversation", "uid"], name=once),
        models.CheckConstraint(condition=Q(unread_count__gte=0), name=unread_not_negative),
    ]


def state_user_index(name: str) -> models.Index:
    """A user's rows in one account: their list, their counters and their unread totals."""
    return models.Index(fields=["uid", "account_id"], name=name)
