"""Every REST error in the contract's envelope: {"success": false, "errno", "message", ...}."""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, JsonResponse
from rest_framework import exceptions
from rest_framework.response import Response

from realtime.envelope import AckError

logger = logging.getLogger(__name__)

_CODES: list[tuple[type[Exception], int, str]] = [
    (exceptions.ValidationError, 400, "VALIDATION_ERROR"),
    (exceptions.ParseError, 400, "VALIDATION_ERROR"),
    (exceptions.NotAuthenticated, 401, "NOT_AUTHENTICATED"),
    (exceptions.AuthenticationFailed, 401, "NOT_AUTHENTICATED"),
    (exceptions.PermissionDenied, 403, "FORBIDDEN"),
    (DjangoPermissionDenied, 403, "FORBIDDEN"),
    (exceptions.NotFound, 404, "NOT_FOUND"),
    (Http404, 404, "NOT_FOUND"),
    (exceptions.MethodNotAllowed, 405, "METHOD_NOT_ALLOWED"),
    (exceptions.UnsupportedMediaType, 415, "UNSUPPORTED_MEDIA_TYPE"),
    (exceptions.Throttled, 429, "RATE_LIMITED"),
    (RequestDataTooBig, 413, "PAYLOAD_TOO_LARGE"),
]


def envelope_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    """DRF's EXCEPTION_HANDLER: the envelope for every error, 500 for the unexpected."""
    if isinstance(exc, AckError):
        return Response(exc.envelope(), status=exc.errno)
    for kind, status, code in _CODES:
        if isinstance(exc, kind):
            body: dict[str, Any] = {"success": False, "errno": status, "message": code}
            if isinstance(exc, exceptions.ValidationError):
                body["errors"] = _field_errors(exc.detail)
            elif isinstance(exc, exceptions.ParseError):
                body["errors"] = {"body": [str(exc.detail)]}
            elif isinstance(exc, exceptions.APIException):
                body["detail"] = str(exc.detail)
            return Response(body, status=status)
    logger.exception("unhandled error in %s", context.get("view"), exc_info=exc)
    return Response({"success": False, "errno": 500, "message": "INTERNAL_ERROR"}, status=500)


def _field_errors(detail: Any) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        return {
            str(field): [str(m) for m in (msgs if isinstance(msgs, list) else [msgs])]
            for field, msgs in detail.items()
        }
    messages = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(m) for m in messages]}


def not_found(request: HttpRequest, exception: Exception | None = None) -> JsonResponse:
    """Django's handler404: an unknown route answers with the envelope too."""
    return JsonResponse({"success": False, "errno": 404, "message": "NOT_FOUND"}, status=404)
