"""Input serializers of the REST API: targets, event names, namespaces."""

from __future__ import annotations

from rest_framework import serializers

from conversations.serializers import MAX_ID
from leadfinder.events import SCRAPER_EVENTS
from leadfinder.serializers import JobIdField
from realtime.emit import RESERVED_EVENTS
from realtime.serializers import FieldsBuiltOnceSerializer

NAMESPACES = {
    "conversation": "/v1/conversation",
    "live": "/v1/conversation/live",
    "shared": "/v1/shared",
}
MAX_NAME_LENGTH = 128


def validate_event_name(value: str) -> None:
    if value in RESERVED_EVENTS:
        raise serializers.ValidationError(f"'{value}' is reserved by Socket.IO")


class EventNameField(serializers.CharField):
    def __init__(self, **kwargs):
        super().__init__(max_length=MAX_NAME_LENGTH, validators=[validate_event_name], **kwargs)


class TargetField(serializers.CharField):
    """A user id, account id, room or job id taken from the path."""

    def __init__(self, **kwargs):
        super().__init__(max_length=200, **kwargs)


class InputSerializer(FieldsBuiltOnceSerializer):
    """A request's input serializer (its fields built once per class)."""


class NamespaceQuerySerializer(InputSerializer):
    namespace = serializers.ChoiceField(choices=sorted(NAMESPACES), default="shared")

    def validated_namespace(self) -> str:
        return NAMESPACES[self.validated_data["namespace"]]


class EmitToUserSerializer(NamespaceQuerySerializer):
    user_id = TargetField()
    event = EventNameField()


class EmitToAccountSerializer(NamespaceQuerySerializer):
    account_id = TargetField()
    event = EventNameField()


class EmitToRoomSerializer(NamespaceQuerySerializer):
    room = TargetField()
    event = EventNameField()


class OnlineSerializer(InputSerializer):
    user_id = TargetField()


class LeadFinderEventSerializer(InputSerializer):
    job_id = JobIdField()
    event = serializers.ChoiceField(choices=SCRAPER_EVENTS)


class EnvelopeSerializer(serializers.Serializer):
    # the contract's success envelope, for the OpenAPI schema only (no docstring: the schema
    # shows a subclass's own, or none)
    success = serializers.BooleanField()
    message = serializers.CharField()
    # the envelope's own field; it shadows Serializer.data only in these schema-only classes
    data = serializers.DictField()  # type: ignore[assignment]


class DeliveredSerializer(EnvelopeSerializer):
    """The answer of every emit: the envelope with `data.delivered`."""


class OnlineStateSerializer(serializers.Serializer):
    online = serializers.BooleanField()
    status = serializers.ChoiceField(choices=["active", "away", "inactive"])
    sockets = serializers.IntegerField()


# ----- prospects (contract §8) and live-chat visitor tokens ----------------------------------

IS_NEW = {"new": True, "existing": False}
MAX_VISITOR_TOKEN_TTL_S = 30 * 86_400


class ProspectMessageEmitSerializer(InputSerializer):
    channel = TargetField()
    message_id = TargetField()


class ProspectConversationEmitSerializer(InputSerializer):
    channel = TargetField()
    convo_id = TargetField()
    is_new = serializers.ChoiceField(choices=list(IS_NEW))


class VisitorTokenSerializer(serializers.Serializer):
    contact_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)  # "12" is accepted
    conversation_id = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    ttl = serializers.IntegerField(min_value=60, max_value=MAX_VISITOR_TOKEN_TTL_S, default=3600)


class VisitorTokenAnswerSerializer(EnvelopeSerializer):
    pass
