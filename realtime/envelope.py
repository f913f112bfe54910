"""The ack and HTTP envelope of the contract (§3): success, or a failure with errno and code.

Handlers raise an `AckError` subclass; the consumer base and the REST views turn it into
`{"success": false, "errno": N, "message": "CODE"}` (plus `errors` for validation).
"""

from __future__ import annotations

from typing import Any

SUCCESS = "SUCCESS"


def success(data: Any = None) -> dict[str, Any]:
    envelope: dict[str, Any] = {"success": True, "message": SUCCESS}
    if data is not None:
        envelope["data"] = data
    return envelope


class AckError(Exception):
    """A failure the client is told about; subclasses fix the errno and the code."""

    errno = 500
    code = "INTERNAL_ERROR"

    def __init__(self, detail: str | None = None, *, errors: dict[str, list[str]] | None = None):
        super().__init__(detail or self.code)
        self.errors = errors

    def envelope(self) -> dict[str, Any]:
        envelope: dict[str, Any] = {"success": False, "errno": self.errno, "message": self.code}
        if self.errors is not None:
            envelope["errors"] = self.errors
        return envelope


class ValidationFailed(AckError):
    errno = 400
    code = "VALIDATION_ERROR"


class NotAuthenticated(AckError):
    errno = 401
    code = "NOT_AUTHENTICATED"


class NotEnoughScope(AckError):
    errno = 403
    code = "NOT_ENOUGH_SCOPE"


class Forbidden(AckError):
    errno = 403
    code = "FORBIDDEN"


class NotFound(AckError):
    errno = 404
    code = "NOT_FOUND"


class PayloadTooLarge(AckError):
    errno = 413
    code = "PAYLOAD_TOO_LARGE"


class RateLimited(AckError):
    errno = 429
    code = "RATE_LIMITED"


class TooManyRooms(AckError):
    errno = 429
    code = "TOO_MANY_ROOMS"


class TooManyConnections(AckError):
    errno = 429
    code = "TOO_MANY_CONNECTIONS"


class InternalError(AckError):
    errno = 500
    code = "INTERNAL_ERROR"


def failure(exc: AckError) -> dict[str, Any]:
    return exc.envelope()
