"""BaseInternalView: the internal access policy, JSON bodies bounded by SOCKETIO_MAX_PAYLOAD."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import RequestDataTooBig
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.views import APIView

from realtime.conf import realtime_settings
from realtime.envelope import PayloadTooLarge, ValidationFailed

from .permissions import InternalAccess


class BaseInternalView(APIView):
    authentication_classes: list = []
    permission_classes = [InternalAccess]
    parser_classes = [JSONParser]
    input_serializer_class: Any = None

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # access is checked before the body is read
        length = request.META.get("CONTENT_LENGTH") or "0"
        if length.isdigit() and int(length) > int(realtime_settings.MAX_PAYLOAD):
            raise PayloadTooLarge()

    def validated_input(self, request: Request, **path: Any) -> Any:
        """The path arguments and the query string, through the view's input serializer."""
        serializer = self.input_serializer_class(data={**request.query_params.dict(), **path})
        serializer.is_valid(raise_exception=True)
        return serializer

    def json_body(self, request: Request, *, require_object: bool = False) -> Any:
        """The request's JSON body (`{}` when empty), with or without a Content-Length."""
        try:
            body = request.body
        except RequestDataTooBig:
            raise PayloadTooLarge() from None
        if len(body) > int(realtime_settings.MAX_PAYLOAD):
            raise PayloadTooLarge()  # a chunked body: no Content-Length was checked up front
        if not body.strip():
            return {}
        # DRF parses no body without a Content-Length (chunked); this one is read already
        request.META["CONTENT_LENGTH"] = str(len(body))
        data = request.data
        if require_object and not isinstance(data, dict):
            raise ValidationFailed(errors={"body": ["must be a JSON object"]})
        return data
