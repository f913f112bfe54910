"""Admin: contacts, prospect conversations (participants, notes, visitors), communications."""

from __future__ import annotations

from django.contrib import admin

from conversations.admin_base import (
    ConversationAdminBase,
    ParticipantStateAdmin,
    change_fields,
    clip,
    inline_fields,
)

from .models import (
    Communication,
    Contact,
    ConversationProspect,
    LiveVisitor,
    Note,
    ProspectParticipant,
)


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    list_display = ("id", "name", "email", "phone", "account_id", "created_at")
    search_fields = ("=id", "name", "email", "phone", "account_id")
    readonly_fields = ("created_at",)


class ParticipantInline(admin.TabularInline):
    model = ProspectParticipant
    extra = 0
    fields = inline_fields("last_read")
    readonly_fields = ("last_read", "joined_at")


class NoteInline(admin.TabularInline):
    model = Note
    extra = 0
    fields = ("author_id", "content", "created_at")
    readonly_fields = ("created_at",)


class VisitorInline(admin.TabularInline):
    model = LiveVisitor
    extra = 0
    fields = ("visitor_id", "first_seen")
    readonly_fields = ("visitor_id", "first_seen")


@admin.register(ConversationProspect)
class ConversationProspectAdmin(ConversationAdminBase):
    list_display = (
        "id",
        "title",
        "contact",
        "account_id",
        "channel_id",
        "participant_count",
        "last_activity",
    )
    search_fields = (
        "=id",
        "title",
        "contact__name",
        "contact__email",
        "participants__uid",
        "account_id",
        "channel_id",
    )
    list_select_related = ("contact",)
    raw_id_fields = ("contact", "contact_last_read")
    inlines = [ParticipantInline, NoteInline, VisitorInline]


@admin.register(ProspectParticipant)
class ProspectParticipantAdmin(ParticipantStateAdmin):
    """Each user's state of each prospect conversation; staff may correct unread counts."""

    fields = change_fields("last_read")
    raw_id_fields = ("conversation", "last_read")


@admin.register(Communication)
class CommunicationAdmin(admin.ModelAdmin):
    list_display = ("id", "type", "contact", "sent_by", "account_id", "created_at")
    list_filter = ("type",)
    search_fields = ("=id", "sent_by", "contact__name", "=conversations__id", "client_msg_id")
    list_select_related = ("contact",)
    raw_id_fields = ("contact", "conversations")
    readonly_fields = ("created_at",)


@admin.register(Note)
class NoteAdmin(admin.ModelAdmin):
    list_display = ("id", "conversation", "author_id", "short_content", "created_at")
    search_fields = ("=conversation__id", "author_id", "content")
    list_select_related = ("conversation",)
    raw_id_fields = ("conversation",)
    readonly_fields = ("created_at",)

    @admin.display(description="content")
    def short_content(self, obj: Note) -> str:
        return clip(obj.content)
