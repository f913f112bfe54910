"""Admin: conversations with their participants (unread counts editable) and paged messages."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.core.paginator import Page, Paginator
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest

from .admin_base import (
    ConversationAdminBase,
    ParticipantStateAdmin,
    change_fields,
    clip,
    inline_fields,
)
from .models import Conversation, Message, Participant


class PagedInlineFormSet(BaseInlineFormSet):
    """An inline formset that shows one page of its rows (`?<prefix>-page=N`)."""

    per_page = 25
    request: HttpRequest | None = None
    page: Page

    def get_queryset(self) -> Any:
        if not hasattr(self, "_paged"):
            rows = super().get_queryset()
            paginator = Paginator(rows, self.per_page)
            number = self.request.GET.get(self.page_param) if self.request else None
            self.page = paginator.get_page(number)
            self._paged = list(self.page.object_list)
        return self._paged

    @property
    def page_param(self) -> str:
        return f"{self.prefix}-page"


class ParticipantInline(admin.TabularInline):
    model = Participant
    extra = 0
    fields = inline_fields("last_read_message")
    readonly_fields = ("last_read_message", "joined_at")


class MessageInline(admin.TabularInline):
    model = Message
    formset = PagedInlineFormSet
    template = "admin/conversations/paged_tabular.html"
    extra = 0
    fields = ("sender_id", "content", "attachments", "client_msg_id", "created_at")
    readonly_fields = ("sender_id", "client_msg_id", "created_at")
    ordering = ("-id",)

    def get_formset(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        formset: Any = super().get_formset(request, obj, **kwargs)
        formset.request = request  # PagedInlineFormSet pages by the request's query
        return formset


@admin.register(Conversation)
class ConversationAdmin(ConversationAdminBase):
    list_display = (
        "id",
        "title",
        "account_id",
        "channel_id",
        "created_by",
        "participant_count",
        "last_activity",
    )
    search_fields = ("=id", "title", "participants__uid", "account_id", "channel_id")
    inlines = [ParticipantInline, MessageInline]


@admin.register(Participant)
class ParticipantAdmin(ParticipantStateAdmin):
    """Each user's state of each conversation; staff may correct unread counts here."""

    fields = change_fields("last_read_message")
    raw_id_fields = ("conversation", "last_read_message")


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "sender_id", "short_content", "created_at")
    search_fields = ("=conversation__id", "sender_id", "content", "client_msg_id")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)
    readonly_fields = ("created_at",)

    @admin.display(description="content")
    def short_content(self, obj: Message) -> str:
        return clip(obj.content)
