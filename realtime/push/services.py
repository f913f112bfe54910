"""Writes for push: register and remove device tokens, push to a user (sync ORM code)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .. import metrics
from .backends import PushNotification, SendStatus, TokenResult, fcm_data, get_backend
from .models import DeviceToken, Platform
from .selectors import user_device_tokens

ERROR_MAX = DeviceToken._meta.get_field("last_error").max_length or 500
TOKEN_MAX = DeviceToken._meta.get_field("token").max_length or 512


@dataclass(frozen=True, slots=True)
class PushOutcome:
    """How a push to one user went: tokens reached, removed as invalid, failed otherwise."""

    sent: int = 0
    removed: int = 0
    failed: int = 0


def push_to_user(
    *, uid: str, title: str, body: str, data: Mapping[str, Any] | None = None
) -> PushOutcome:
    """Send a notification to every device of the user; drop the tokens FCM calls invalid."""
    tokens = user_device_tokens(uid=uid)
    if not tokens:
        return PushOutcome()
    notification = PushNotification(title=title, body=body, data=fcm_data(data))
    return _record_results(get_backend().send(tokens, notification))


def _record_results(results: Sequence[TokenResult]) -> PushOutcome:
    ok = [r.token for r in results if r.status == SendStatus.OK]
    invalid = [r.token for r in results if r.status == SendStatus.INVALID_TOKEN]
    failed = [r for r in results if r.status == SendStatus.ERROR]
    DeviceToken.objects.filter(token__in=invalid).delete()
    DeviceToken.objects.filter(token__in=ok).exclude(last_error="").update(last_error="")
    for result in failed:
        error = result.error[:ERROR_MAX] or "unknown error"
        DeviceToken.objects.filter(token=result.token).update(last_error=error)
    outcome = PushOutcome(sent=len(ok), removed=len(invalid), failed=len(failed))
    for label, count in (("sent", outcome.sent), ("invalid_token", outcome.removed)):
        metrics.PUSHES.labels(label).inc(count)
    metrics.PUSHES.labels("failed").inc(outcome.failed)
    return outcome


def device_token_register(
    *, uid: str, account_id: str | None, token: str, platform: str
) -> DeviceToken:
    """Record a device's token for the user; a token seen before moves to this user."""
    if not token or len(token) > TOKEN_MAX:
        raise ValueError(f"token must be 1 to {TOKEN_MAX} characters")
    if platform not in Platform.values:
        raise ValueError(f"platform must be one of {Platform.values}, not {platform!r}")
    device, _ = DeviceToken.objects.update_or_create(
        token=token,
        defaults={"uid": uid, "account_id": account_id, "platform": platform, "last_error": ""},
    )
    return device


def device_token_remove(*, token: str) -> bool:
    """Forget a token (logout, uninstall); whether it was known."""
    deleted, _ = DeviceToken.objects.filter(token=token).delete()
    return deleted > 0
