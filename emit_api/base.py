"""BaseInternalView: the internal access policy, JSON bodies bounded by SOCKETIO_MAX_PAYLOAD
and by nesting depth; AsyncInternalView: the same for views whose handlers are coroutines
(no thread hop)."""

from __future__ import annotations

import io
from typing import Any

from adrf.views import APIView as AsyncAPIView
from asgiref.sync import iscoroutinefunction
from django.core.exceptions import RequestDataTooBig
from django.http import HttpResponse
from django.http.response import HttpResponseBase
from django.template.response import SimpleTemplateResponse
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.request import Request
from rest_framework.views import APIView

from realtime.conf import realtime_settings
from realtime.envelope import PayloadTooLarge, ValidationFailed
from realtime.jsoncodec import MAX_DEPTH, nests_deeper

from .permissions import InternalAccess

TOO_DEEP = f"JSON parse error - nested more than {MAX_DEPTH} levels deep"


class BoundedJSONParser(JSONParser):
    """DRF's JSON parser, refusing JSON nested deeper than a Socket.IO packet may be
    (realtime.jsoncodec.MAX_DEPTH): a 400, where Python's parser would raise RecursionError
    (a 500) past ~1,000 levels and an emit's encoding past a few hundred."""

    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        raw = stream.read()  # (json.load reads it whole too) kept for nests_deeper's count
        try:
            data = super().parse(io.BytesIO(raw), media_type, parser_context)
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        if nests_deeper(data, MAX_DEPTH, raw):  # walked only past MAX_DEPTH brackets
            raise ParseError(TOO_DEEP)
        return data


class BaseInternalView(APIView):
    authentication_classes: list = []
    permission_classes = [InternalAccess]
    parser_classes = [BoundedJSONParser]
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


# An internal view whose handlers are `async def`: served on the event loop, start to end. For
# handlers that await async services only; ORM work goes through `database_sync_to_async` in
# those services, never here. (No docstring: the OpenAPI schema would show it for subclasses.)
class AsyncInternalView(BaseInternalView, AsyncAPIView):
    async def async_dispatch(self, request: Any, *args: Any, **kwargs: Any) -> HttpResponseBase:
        """adrf's async_dispatch without its thread hops. adrf runs `initial` through
        sync_to_async; here it runs on the loop: content negotiation, InternalAccess and the
        payload limit do no I/O (no authenticators, no throttles). The sync handlers left
        (`options`, `http_method_not_allowed`) do none either. The response is rendered
        here too: Django's handler would render a DRF Response through sync_to_async."""
        self.args = args
        self.kwargs = kwargs
        request = self.initialize_request(request, *args, **kwargs)
        self.request = request
        self.headers = self.default_response_headers
        try:
            self.initial(request, *args, **kwargs)
            if request.method.lower() in self.http_method_names:
                handler = getattr(self, request.method.lower(), self.http_method_not_allowed)
            else:
                handler = self.http_method_not_allowed
            if iscoroutinefunction(handler):
                response = await handler(request, *args, **kwargs)
            else:
                response = handler(request, *args, **kwargs)
        except Exception as exc:
            response = self.handle_exception(exc)
        self.response = self.finalize_response(request, response, *args, **kwargs)
        return rendered(self.response)


def rendered(response: HttpResponseBase) -> HttpResponseBase:
    """A DRF Response rendered now, as a plain HttpResponse with the same status, headers and
    body: Django renders a response that has a `render` method in a thread."""
    if not isinstance(response, SimpleTemplateResponse):
        return response
    response.render()
    return HttpResponse(response.content, status=response.status_code, headers=response.headers)
