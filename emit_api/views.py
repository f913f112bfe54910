"""The REST API's views: one per operation, each validating its input and calling one service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, ClassVar, NamedTuple

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from leadfinder import events as leadfinder_events
from leadfinder import services as leadfinder_services
from leadfinder.serializers import scraper_payload
from prospects import communications, visitors
from realtime import metrics
from realtime.envelope import NotFound, success
from realtime.hub import get_hub
from realtime.presence.selectors import user_online_state
from realtime.shutdown import is_shutting_down

from . import serializers, services
from .base import AsyncInternalView, BaseInternalView

NAMESPACE_PARAMETER = OpenApiParameter(
    "namespace", str, enum=sorted(serializers.NAMESPACES), default="shared"
)
LEAD_FINDER_PARAMETERS = [
    OpenApiParameter("job_id", str, "path", pattern=r"^[A-Za-z0-9_-]{1,64}$"),
    OpenApiParameter("event", str, "path", enum=list(leadfinder_events.SCRAPER_EVENTS)),
]
ANY_JSON = {"application/json": {"type": "object", "additionalProperties": True}}


def delivered(count: int) -> Response:
    return Response(success({"delivered": count}))


class StatusView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    @extend_schema(
        summary="Service health (503 SHUTTING_DOWN while stopping)", responses={200: dict}
    )
    def get(self, request: Request) -> Response:
        if is_shutting_down():
            body = {"success": False, "errno": 503, "message": "SHUTTING_DOWN"}
            return Response(body, status=503)
        # degraded: the channel layer (Redis) fails; this instance still serves its sockets
        layer = get_hub().link.status
        return Response({"success": True, "message": "General socket is running", "status": layer})


class MetricsView(BaseInternalView):
    """Prometheus exposition; `Authorization: Bearer <INTERNAL_API_KEY>` is accepted too."""

    @extend_schema(summary="Prometheus metrics", responses={200: str})
    def get(self, request: Request) -> HttpResponse:
        body, content_type = metrics.render()
        return HttpResponse(body, content_type=content_type)


class BaseEmitView(AsyncInternalView):
    """POST /emit/...: an event to a target named by the path, counted across instances.

    Subclasses name the path argument (`target`) and the service that emits (`service`).
    """

    target: ClassVar[str]
    service: ClassVar[Callable[..., Awaitable[int]]]

    async def post(self, request: Request, event: str, **path: str) -> Response:
        data = self.validated_input(request, event=event, **path)
        target = EmitTarget.of(data)
        return delivered(await self.emit(target, self.json_body(request)))

    @classmethod
    def emit(cls, target: EmitTarget, payload: Any) -> Awaitable[int]:
        """Emit the request's event to its target (emit_api.fastpath calls this too): the
        service's own coroutine, with no coroutine of its own around it."""
        return cls.service(
            **{cls.target: target.data[cls.target]},
            event=target.data["event"],
            payload=payload,
            namespace=target.namespace,
        )


class EmitTarget(NamedTuple):
    """What an emit's valid input says: its path's and query's fields, and the namespace."""

    data: Mapping[str, Any]
    namespace: str

    @classmethod
    def of(cls, serializer: serializers.NamespaceQuerySerializer) -> EmitTarget:
        return cls(dict(serializer.validated_data), serializer.validated_namespace())


def emit_schema(summary: str) -> Any:
    """The view's schema, on a `post` of its own: extend_schema_view would wrap the inherited
    coroutine in a plain function, and Django would then serve the view as a sync one."""

    def decorate(view: type[BaseEmitView]) -> type[BaseEmitView]:
        async def post(self: BaseEmitView, request: Request, event: str, **path: str) -> Response:
            return await BaseEmitView.post(self, request, event, **path)

        view.post = extend_schema(  # type: ignore[method-assign]
            summary=summary,
            parameters=[NAMESPACE_PARAMETER],
            request=ANY_JSON,
            responses={200: serializers.DeliveredSerializer},
        )(post)
        return view

    return decorate


@emit_schema("Emit an event to every socket of a user")
class EmitToUserView(BaseEmitView):
    input_serializer_class = serializers.EmitToUserSerializer
    target = "user_id"
    service = staticmethod(services.emit_to_user)


@emit_schema("Emit an event to every socket of an account")
class EmitToAccountView(BaseEmitView):
    input_serializer_class = serializers.EmitToAccountSerializer
    target = "account_id"
    service = staticmethod(services.emit_to_account)


@emit_schema("Emit an event to a room")
class EmitToRoomView(BaseEmitView):
    input_serializer_class = serializers.EmitToRoomSerializer
    target = "room"
    service = staticmethod(services.emit_to_room)


class LeadFinderEventView(AsyncInternalView):
    input_serializer_class = serializers.LeadFinderEventSerializer

    @extend_schema(
        summary="Relay a scraper event to a lead-finder job's watchers",
        parameters=LEAD_FINDER_PARAMETERS,
        request=ANY_JSON,
        responses={200: serializers.DeliveredSerializer},
    )
    async def post(self, request: Request, job_id: str, event: str) -> Response:
        target = self.validated_input(request, job_id=job_id, event=event).validated_data
        body = self.json_body(request, require_object=True)
        payload = scraper_payload(target["event"], body, job_id=target["job_id"])
        count = await leadfinder_services.scraper_event_relay(
            event=target["event"], payload=payload
        )
        return delivered(count)


class OnlineView(BaseInternalView):
    input_serializer_class = serializers.OnlineSerializer

    @extend_schema(summary="A user's presence", responses={200: serializers.OnlineStateSerializer})
    def get(self, request: Request, user_id: str) -> Response:
        target = self.validated_input(request, user_id=user_id)
        state = user_online_state(uid=target.validated_data["user_id"])
        return Response({"online": state.online, "status": state.status, "sockets": state.sockets})


# ----- prospects (contract §8) and live-chat visitor tokens ----------------------------------


def row_id(value: str) -> int:
    """A path id as a row id; anything that cannot be one names nothing: NOT_FOUND."""
    if not (value.isascii() and value.isdigit() and len(value) < 19 and int(value) > 0):
        raise NotFound("no such id")
    return int(value)


class ProspectMessageEmitView(AsyncInternalView):
    """`prospect_message` to every participant of every conversation of a communication."""

    input_serializer_class = serializers.ProspectMessageEmitSerializer

    @extend_schema(
        summary="Emit a stored prospect message to its conversations' participants",
        responses={200: serializers.DeliveredSerializer},
    )
    async def get(self, request: Request, channel: str, message_id: str) -> Response:
        target = self.validated_input(request, channel=channel, message_id=message_id)
        message = row_id(target.validated_data["message_id"])
        return delivered(await communications.communication_emit(message_id=message))


class ProspectConversationEmitView(AsyncInternalView):
    """`prospect_add_conversation` to each participant, with each one's own unread count."""

    input_serializer_class = serializers.ProspectConversationEmitSerializer

    @extend_schema(
        summary="Emit a prospect conversation to its participants (isNew: new | existing)",
        parameters=[OpenApiParameter("is_new", str, "path", enum=list(serializers.IS_NEW))],
        responses={200: serializers.DeliveredSerializer},
    )
    async def get(self, request: Request, channel: str, convo_id: str, is_new: str) -> Response:
        path = {"channel": channel, "convo_id": convo_id, "is_new": is_new}
        target = self.validated_input(request, **path).validated_data  # 400 before any lookup
        cid = row_id(target["convo_id"])
        count = await communications.conversation_emit(
            cid=cid, is_new=serializers.IS_NEW[target["is_new"]]
        )
        return delivered(count)


class VisitorTokenView(BaseInternalView):
    """A live-chat visitor token for a contact in one of its conversations."""

    @extend_schema(
        summary="Mint a visitor token (contact_id, conversation_id, ttl seconds)",
        request=serializers.VisitorTokenSerializer,
        responses={200: serializers.VisitorTokenAnswerSerializer},
    )
    def post(self, request: Request) -> Response:
        body = self.json_body(request, require_object=True)
        given = serializers.VisitorTokenSerializer(data=body)
        given.is_valid(raise_exception=True)
        return Response(success(visitors.visitor_token_create(**given.validated_data)))
