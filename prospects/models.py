"""Prospect conversations: contacts, their conversations with staff, communications, notes."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from conversations.participation import ParticipantState, state_constraints, state_user_index


class Contact(models.Model):
    """A person outside the account (a lead, a customer, a website visitor)."""

    account_id = models.CharField(max_length=128)
    name = models.CharField(max_length=255, blank=True, default="")
    email = models.CharField(max_length=255, blank=True, default="")
    phone = models.CharField(max_length=64, blank=True, default="")
    image = models.CharField(max_length=1024, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["account_id", "name"], name="prospect_contact_name")]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"Contact {self.pk}"


class ConversationProspect(models.Model):
    """A conversation of staff users with one contact, on one channel of the account."""

    account_id = models.CharField(max_length=128)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="conversations")
    channel_id = models.CharField(max_length=128, blank=True, default="")
    title = models.CharField(max_length=255, blank=True, default="")
    image = models.CharField(max_length=1024, blank=True, default="")
    created_by = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(default=timezone.now)
    contact_last_read = models.ForeignKey(
        "Communication", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-last_activity"]
        constraints = [
            models.UniqueConstraint(
                fields=["account_id", "contact", "channel_id"], name="prospect_conv_once"
            ),
        ]
        indexes = [
            models.Index(fields=["account_id", "-last_activity"], name="prospect_conv_activity"),
        ]

    def __str__(self) -> str:
        return self.title or f"Prospect conversation {self.pk}"


class ProspectParticipant(ParticipantState):
    """A staff user in a prospect conversation, with that user's own state of it."""

    conversation = models.ForeignKey(
        ConversationProspect, on_delete=models.CASCADE, related_name="participants"
    )
    last_read = models.ForeignKey(
        "Communication", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["conversation_id", "uid"]
        constraints = state_constraints(
            once="prospect_member_once", unread_not_negative="prospect_unread_not_negative"
        )
        indexes = [state_user_index("prospect_member_user")]


class Communication(models.Model):
    """One message: INCOMING from the contact, or OUTGOING from a user (`sent_by`).

    A communication may belong to several conversations of its contact (one email to
    several channels' threads); `client_msg_id` makes a sender's retry return the stored one.
    """

    class Type(models.TextChoices):
        INCOMING = "INCOMING"
        OUTGOING = "OUTGOING"

    account_id = models.CharField(max_length=128)
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="communications")
    type = models.CharField(max_length=8, choices=Type.choices)
    sent_by = models.CharField(max_length=128)
    conversations = models.ManyToManyField(ConversationProspect, related_name="communications")
    data = models.JSONField(default=dict, blank=True)
    client_msg_id = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["type", "sent_by", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="prospect_comm_client_id_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.pk} by {self.sent_by}"


class Note(models.Model):
    """A staff-only note on a prospect conversation (never shown to the contact)."""

    conversation = models.ForeignKey(
        ConversationProspect, on_delete=models.CASCADE, related_name="notes"
    )
    author_id = models.CharField(max_length=128)
    content = models.TextField()
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.author_id}: {self.content[:40]}"


class LiveVisitor(models.Model):
    """A live-chat visitor id seen in a conversation: staff replies go to its `visitor:` room."""

    conversation = models.ForeignKey(
        ConversationProspect, on_delete=models.CASCADE, related_name="visitors"
    )
    visitor_id = models.CharField(max_length=128)
    first_seen = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["conversation_id", "first_seen"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "visitor_id"], name="prospect_visitor_once"
            ),
        ]

    def __str__(self) -> str:
        return f"visitor {self.visitor_id} in {self.conversation_id}"
