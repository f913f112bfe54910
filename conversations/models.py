"""Team conversations: the conversation, each participant's own state, and its messages."""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils import timezone

from .participation import ParticipantState, state_constraints, state_user_index


class Conversation(models.Model):
    """A conversation between users of one account, optionally tied to a channel."""

    account_id = models.CharField(max_length=128)
    channel_id = models.CharField(max_length=128, blank=True, default="")
    title = models.CharField(max_length=255, blank=True, default="")
    image = models.CharField(max_length=1024, blank=True, default="")
    created_by = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    last_activity = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-last_activity"]
        indexes = [
            models.Index(fields=["account_id", "-last_activity"], name="conv_account_activity"),
            models.Index(fields=["account_id", "channel_id"], name="conv_account_channel"),
        ]

    def __str__(self) -> str:
        return self.title or f"Conversation {self.pk}"


class Participant(ParticipantState):
    """A user in a team conversation, with that user's own state of it."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="participants"
    )
    last_read_message = models.ForeignKey(
        "Message", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["conversation_id", "uid"]
        constraints = state_constraints(
            once="conv_participant_once", unread_not_negative="conv_unread_not_negative"
        )
        indexes = [state_user_index("conv_participant_user")]


class Message(models.Model):
    """One message; `client_msg_id` makes a client's retry return the stored message."""

    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages"
    )
    sender_id = models.CharField(max_length=128)
    content = models.TextField(blank=True, default="")
    attachments = models.JSONField(default=list, blank=True)
    client_msg_id = models.CharField(max_length=128, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["conversation", "sender_id", "client_msg_id"],
                condition=Q(client_msg_id__isnull=False),
                name="conv_message_client_id_once",
            ),
        ]
        indexes = [models.Index(fields=["conversation", "-id"], name="conv_message_page")]

    def __str__(self) -> str:
        return f"{self.sender_id}: {self.content[:40]}"
