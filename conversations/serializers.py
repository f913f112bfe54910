"""Input serializers, one per client event of `/v1/conversation` (contract §5)."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from realtime.envelope import ValidationFailed
from realtime.serializers import FieldsBuiltOnceSerializer, validate

MAX_ID = 2**63 - 1
MAX_USERS = 100
MAX_ATTACHMENTS = 20
MAX_CONTENT = 20_000
STATUSES = ["all", "open", "closed", "snoozed", "archived", "unread"]  # see memberships.status_q


class UserIdField(serializers.CharField):
    """A user id: a non-empty string, or an integer (sent as a JSON number)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(max_length=128, **kwargs)

    def to_internal_value(self, data: Any) -> str:
        if isinstance(data, bool) or not isinstance(data, str | int):
            self.fail("invalid")
        return super().to_internal_value(str(data))


class RowIdField(serializers.Field):
    """A conversation or message id: digits as a string, or an integer."""

    default_error_messages = {"invalid": "A valid id is required."}

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, str) and data.isascii() and data.isdigit() and len(data) < 20:
            data = int(data)
        if not isinstance(data, int) or not 0 < data <= MAX_ID:
            self.fail("invalid")
        return data

    def to_representation(self, value: int) -> str:
        return str(value)


class Payload(FieldsBuiltOnceSerializer):
    """Base of every payload; fields it does not declare are ignored. Its fields are built once
    per class: a payload is validated on every event."""


class ConversationPayload(Payload):
    """An event about one conversation: `cid`, or its long name `conversation_id`."""

    cid = RowIdField()

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "cid" not in data and "conversation_id" in data:
            data = {**data, "cid": data["conversation_id"]}
        return super().to_internal_value(data)


class JoinPayload(Payload):
    pass


class ActiveStatusPayload(Payload):
    status = serializers.ChoiceField(choices=["active", "away", "inactive"])


class AddConversationPayload(Payload):
    users = serializers.ListField(child=UserIdField(), allow_empty=False, max_length=MAX_USERS)
    title = serializers.CharField(max_length=255, required=False, allow_blank=True, default="")
    image = serializers.CharField(max_length=1024, required=False, allow_blank=True, default="")
    channel_id = UserIdField(required=False, allow_null=True, default="")

    def validate_channel_id(self, value: str | None) -> str:
        return value or ""


class ConversationFilter(serializers.Serializer):
    status = serializers.ChoiceField(choices=STATUSES, required=False, allow_null=True)
    channel_id = UserIdField(required=False, allow_null=True, allow_blank=True)
    search = serializers.CharField(
        max_length=255, required=False, allow_null=True, allow_blank=True
    )


class ListConversationPayload(Payload):
    filter = ConversationFilter(required=False, allow_null=True)
    page = serializers.IntegerField(min_value=1, max_value=100_000, default=1)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=20)


class ChannelPayload(Payload):
    channel_id = UserIdField(required=False, allow_null=True, allow_blank=True)


class GetConversationPayload(ConversationPayload):
    pass


class ListMessagePayload(ConversationPayload):
    before = RowIdField(required=False, allow_null=True)
    limit = serializers.IntegerField(min_value=1, max_value=100, default=30)


class ListMessageByIdPayload(ConversationPayload):
    message_id = RowIdField()
    limit = serializers.IntegerField(min_value=1, max_value=100, default=30)


class MessagePayload(ConversationPayload):
    content = serializers.CharField(
        max_length=MAX_CONTENT, required=False, allow_blank=True, trim_whitespace=False, default=""
    )
    client_msg_id = serializers.CharField(max_length=128, required=False, allow_null=True)
    attachments = serializers.ListField(
        child=serializers.DictField(), required=False, max_length=MAX_ATTACHMENTS, default=list
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs["content"].strip() and not attrs["attachments"]:
            raise serializers.ValidationError(
                {"content": ["A message needs content or attachments."]}
            )
        return attrs


class TypingPayload(ConversationPayload):
    is_typing = serializers.BooleanField()


class ReadPayload(ConversationPayload):
    message_id = RowIdField(required=False, allow_null=True)


class StatePayload(ConversationPayload):
    """`open` / `archive` / `show_on_top`: a boolean `value`."""

    value = serializers.BooleanField()


class SnoozePayload(StatePayload):
    """`snooze`: `value` true needs `until`, a time to come."""

    until = serializers.DateTimeField(required=False, allow_null=True)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        until = attrs.get("until")
        if not attrs["value"]:
            return attrs
        if until is None:
            raise serializers.ValidationError({"until": ["Required to snooze."]})
        if until <= timezone.now():
            raise serializers.ValidationError({"until": ["Must be in the future."]})
        return attrs


class AddParticipantPayload(ConversationPayload):
    users = serializers.ListField(child=UserIdField(), allow_empty=False, max_length=MAX_USERS)


class EditConversationPayload(ConversationPayload):
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    image = serializers.CharField(max_length=1024, required=False, allow_blank=True)


def validated(serializer_class: type[serializers.Serializer], payload: Any) -> dict[str, Any]:
    """The payload's validated fields, or VALIDATION_ERROR with every field's messages."""
    try:
        return validate(serializer_class, {} if payload is None else payload)
    except serializers.ValidationError as exc:
        raise ValidationFailed(errors=_messages(exc.detail)) from None


def _messages(errors: Any) -> dict[str, list[str]]:
    """DRF's errors as `{field: [msg]}`; nested fields are named `parent.child`."""
    flat: dict[str, list[str]] = {}
    for field, detail in errors.items():
        if isinstance(detail, dict):
            for child, messages in _messages(detail).items():
                flat[f"{field}.{child}"] = messages
        elif isinstance(detail, list) and detail and isinstance(detail[0], dict | list):
            flat[field] = [str(item) for item in detail if item]
        else:
            flat[field] = [str(message) for message in detail]
    return flat
