"""Admin building blocks team and prospect conversations share: participants, counts, clips."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest

# a user's own flags of a conversation, as the admin shows them
STATE_FLAGS = ("is_open", "snoozed_until", "archived", "show_on_top")
CLIP = 80  # characters of a message's content in a list


def inline_fields(last_read: str) -> tuple[str, ...]:
    """A participant's columns in its conversation's inline (`last_read`: the model's FK)."""
    return ("uid", "unread_count", last_read, *STATE_FLAGS, "joined_at")


def change_fields(last_read: str) -> tuple[str, ...]:
    """Every field of a participant's change page, in the order it has always had."""
    own = ("unread_count", last_read, *STATE_FLAGS)
    return ("conversation", "uid", "account_id", *own, "last_activity", "joined_at")


def clip(text: str) -> str:
    """`text` cut to `CLIP` characters, an ellipsis marking the cut."""
    return text if len(text) <= CLIP else text[: CLIP - 1] + "…"


class ParticipantStateAdmin(admin.ModelAdmin):
    """Each user's state of each conversation; staff may correct unread counts here.

    A subclass sets `fields` (`change_fields`) and `raw_id_fields` for its model's FKs.
    """

    list_display = (
        "uid",
        "conversation",
        "account_id",
        "unread_count",
        "is_open",
        "archived",
        "show_on_top",
        "snoozed_until",
        "last_activity",
    )
    list_editable = ("unread_count",)
    list_filter = ("is_open", "archived", "show_on_top")
    search_fields = ("uid", "account_id", "conversation__title", "=conversation__id")
    list_select_related = ("conversation",)


class ConversationAdminBase(admin.ModelAdmin):
    """A conversation list with a participant count (counted in the list's one query)."""

    list_filter = ("last_activity",)
    readonly_fields = ("created_at",)
    date_hierarchy = "last_activity"

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        queryset = super().get_queryset(request)
        return queryset.annotate(_participants=Count("participants", distinct=True))

    @admin.display(description="participants", ordering="_participants")
    def participant_count(self, obj: Any) -> int:
        return obj._participants
