"""Input serializers of the prospect events, built on the team conversations' fields."""

from __future__ import annotations

import json
from typing import Any

from rest_framework import serializers

from conversations.serializers import (
    MAX_CONTENT,
    MAX_USERS,
    ConversationPayload,
    Payload,
    RowIdField,
    UserIdField,
)

MAX_DATA_CHARS = 100_000  # a communication's `data`, as JSON


class AddConversationPayload(Payload):
    """`prospect_add_conversation {contact_id, channel_id, users?, title?, image?}`."""

    contact_id = RowIdField()
    channel_id = UserIdField()
    users = serializers.ListField(
        child=UserIdField(), required=False, max_length=MAX_USERS, default=list
    )
    title = serializers.CharField(max_length=255, required=False, allow_blank=True)
    image = serializers.CharField(max_length=1024, required=False, allow_blank=True)


class CommunicationPayload(ConversationPayload):
    """`prospect_message {cid, data, client_msg_id?}`: a staff user's OUTGOING message."""

    # the contract's field; it shadows Serializer.data, which these payloads never read
    data = serializers.DictField()  # type: ignore[assignment]
    client_msg_id = serializers.CharField(max_length=128, required=False, allow_null=True)

    def validate_data(self, value: dict[str, Any]) -> dict[str, Any]:
        if not value:
            raise serializers.ValidationError("A message needs data.")
        if len(json.dumps(value, ensure_ascii=False)) > MAX_DATA_CHARS:
            raise serializers.ValidationError(f"At most {MAX_DATA_CHARS} characters as JSON.")
        return value


class NotePayload(ConversationPayload):
    content = serializers.CharField(max_length=MAX_CONTENT, trim_whitespace=False)

    def validate_content(self, value: str) -> str:
        if not value.strip():
            raise serializers.ValidationError("A note needs content.")
        return value


class VisitorJoinPayload(Payload):
    """A visitor's `join {cid?}`: its own conversation (the token's, when not given)."""

    cid = RowIdField(required=False, allow_null=True)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict) and "cid" not in data and "conversation_id" in data:
            data = {**data, "cid": data["conversation_id"]}
        return super().to_internal_value(data)
