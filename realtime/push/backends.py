"""Push backends: FCM through firebase-admin, a logger, and an in-memory recorder for tests.

`REALTIME["PUSH_BACKEND"]` picks one: "firebase", "log" or "memory"; left empty, it is
"firebase" when `FCM_CREDENTIALS` (a service-account JSON) is set, else "log".
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import firebase_admin
from django.core.exceptions import ImproperlyConfigured
from firebase_admin import credentials, exceptions, messaging

from ..conf import realtime_settings

logger = logging.getLogger(__name__)

# keys FCM refuses in a message's data (the whole message fails), and refused key prefixes
RESERVED_DATA_KEYS = frozenset({"from", "notification", "message_type"})
RESERVED_DATA_PREFIXES = ("google.", "gcm.")


class SendStatus(enum.StrEnum):
    OK = "ok"
    INVALID_TOKEN = "invalid_token"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class PushNotification:
    title: str
    body: str
    data: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class TokenResult:
    """What became of one token's message."""

    token: str
    status: SendStatus
    error: str = ""


def fcm_data(data: Mapping[str, Any] | None) -> dict[str, str]:
    """FCM data is string to string: strings kept, other values as JSON, None and reserved keys
    dropped."""
    result: dict[str, str] = {}
    for key, value in (data or {}).items():
        key = str(key)
        if value is None or key in RESERVED_DATA_KEYS or key.startswith(RESERVED_DATA_PREFIXES):
            continue
        result[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return result


class BasePushBackend:
    """Sends one notification to many tokens; per-token failures are results, not raised."""

    name = ""

    def send(self, tokens: Sequence[str], notification: PushNotification) -> list[TokenResult]:
        raise NotImplementedError


class LogBackend(BasePushBackend):
    """No FCM configured: the push is logged, not sent."""

    name = "log"

    def send(self, tokens: Sequence[str], notification: PushNotification) -> list[TokenResult]:
        logger.info(
            "push (logged, not sent) to %d token(s): %r / %r",
            len(tokens),
            notification.title,
            notification.body,
        )
        return [TokenResult(token, SendStatus.OK) for token in tokens]


@dataclass(frozen=True, slots=True)
class SentPush:
    tokens: tuple[str, ...]
    notification: PushNotification


# the memory backend's record, and the tokens it answers as invalid or failing (tests set these)
memory_sent: list[SentPush] = []
memory_invalid_tokens: set[str] = set()
memory_failing_tokens: dict[str, str] = {}


def memory_reset() -> None:
    memory_sent.clear()
    memory_invalid_tokens.clear()
    memory_failing_tokens.clear()


class MemoryBackend(BasePushBackend):
    """Records every push in `memory_sent`, for in-process tests."""

    name = "memory"

    def send(self, tokens: Sequence[str], notification: PushNotification) -> list[TokenResult]:
        memory_sent.append(SentPush(tuple(tokens), notification))
        return [self._result(token) for token in tokens]

    @staticmethod
    def _result(token: str) -> TokenResult:
        if token in memory_invalid_tokens:
            return TokenResult(token, SendStatus.INVALID_TOKEN, "UNREGISTERED")
        if token in memory_failing_tokens:
            return TokenResult(token, SendStatus.ERROR, memory_failing_tokens[token])
        return TokenResult(token, SendStatus.OK)


class FirebaseBackend(BasePushBackend):
    """FCM HTTP v1 through firebase-admin, with this service's own named Firebase app."""

    name = "firebase"
    max_batch = 500  # firebase-admin's limit for one send_each

    def send(self, tokens: Sequence[str], notification: PushNotification) -> list[TokenResult]:
        app = firebase_app()
        results: list[TokenResult] = []
        for start in range(0, len(tokens), self.max_batch):
            batch = list(tokens[start : start + self.max_batch])
            results += self._send_batch(app, batch, notification)
        return results

    @staticmethod
    def _send_batch(
        app: firebase_admin.App, tokens: list[str], notification: PushNotification
    ) -> list[TokenResult]:
        messages = [fcm_message(token, notification) for token in tokens]
        try:
            batch = messaging.send_each(messages, app=app)
        except (exceptions.FirebaseError, ValueError) as exc:
            return [TokenResult(token, SendStatus.ERROR, str(exc)) for token in tokens]
        return [
            fcm_result(token, response.exception)
            for token, response in zip(tokens, batch.responses, strict=True)
        ]


def fcm_message(token: str, notification: PushNotification) -> messaging.Message:
    # `token`, though firebase-admin 7.7 deprecates it for `fid`: clients register FCM
    # registration tokens, and FCM also accepts an installation id (FID) in `token`
    return messaging.Message(
        token=token,
        notification=messaging.Notification(
            title=notification.title or None, body=notification.body or None
        ),
        data=dict(notification.data) or None,
    )


def fcm_result(token: str, error: Exception | None) -> TokenResult:
    if error is None:
        return TokenResult(token, SendStatus.OK)
    status = SendStatus.INVALID_TOKEN if is_invalid_token_error(error) else SendStatus.ERROR
    return TokenResult(token, status, f"{type(error).__name__}: {error}")


def is_invalid_token_error(error: Exception) -> bool:
    """FCM says the token is dead: UNREGISTERED, NOT_FOUND, or an invalid registration token."""
    if isinstance(error, messaging.UnregisteredError | exceptions.NotFoundError):
        return True
    text = str(error).lower()
    if isinstance(error, exceptions.InvalidArgumentError) and "registration token" in text:
        return True
    return "invalidregistration" in text or "notregistered" in text


FIREBASE_APP_NAME = "general-socket-push"
_app_lock = threading.RLock()
_app: firebase_admin.App | None = None
_app_key: tuple[str, str, float] | None = None


def firebase_app() -> firebase_admin.App:
    """This service's Firebase app, made again when its settings change (tests do that)."""
    global _app, _app_key
    key = (
        str(realtime_settings.FCM_CREDENTIALS or ""),
        str(realtime_settings.FCM_API_BASE or ""),
        float(realtime_settings.PUSH_TIMEOUT_S),
    )
    with _app_lock:
        if _app is None or _app_key != key:
            firebase_app_reset()
            _app, _app_key = _initialize_app(*key), key
        return _app


def firebase_app_reset() -> None:
    """Delete this service's Firebase app; the next push makes it again from the settings."""
    global _app, _app_key
    with _app_lock:
        with contextlib.suppress(ValueError):  # not initialized
            firebase_admin.delete_app(firebase_admin.get_app(FIREBASE_APP_NAME))
        _app = _app_key = None


def _initialize_app(credentials_path: str, api_base: str, timeout: float) -> firebase_admin.App:
    if not credentials_path:
        raise ImproperlyConfigured("the firebase push backend needs FCM_CREDENTIALS")
    app = firebase_admin.initialize_app(
        credentials.Certificate(credentials_path),
        {"httpTimeout": timeout},
        name=FIREBASE_APP_NAME,
    )
    if api_base:
        _point_messaging_at(app, api_base)
    return app


def _point_messaging_at(app: firebase_admin.App, api_base: str) -> None:
    """Send this app's FCM requests to `api_base` instead of https://fcm.googleapis.com.

    firebase-admin hard-codes the FCM endpoint in `messaging._MessagingService._fcm_url` and,
    unlike Auth or Firestore, has no emulator setting for messaging. Tests need the real client
    code (OAuth against the credentials' token_uri, the HTTP session, retries, error parsing)
    to run against a local stand-in, so the app's own messaging service, created once per app
    and cached by it, gets that one attribute changed. Production never sets FCM_API_BASE.
    """
    service = messaging._get_messaging_service(app)
    service._fcm_url = f"{api_base.rstrip('/')}/v1/projects/{app.project_id}/messages:send"


BACKENDS: dict[str, type[BasePushBackend]] = {
    backend.name: backend for backend in (FirebaseBackend, LogBackend, MemoryBackend)
}


def backend_name() -> str:
    name = realtime_settings.PUSH_BACKEND or (
        "firebase" if realtime_settings.FCM_CREDENTIALS else "log"
    )
    if name not in BACKENDS:
        raise ImproperlyConfigured(f"PUSH_BACKEND must be one of {sorted(BACKENDS)}, not {name!r}")
    return name


def get_backend() -> BasePushBackend:
    return BACKENDS[backend_name()]()
