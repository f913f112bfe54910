"""Device registration for push, on behalf of the signed-in user (sync ORM code)."""

from __future__ import annotations

from realtime.push import selectors as push_selectors
from realtime.push import services as push_services


def device_register(*, uid: str, account_id: str | None, token: str, platform: str) -> None:
    push_services.device_token_register(
        uid=uid, account_id=account_id, token=token, platform=platform
    )


def device_unregister(*, uid: str, token: str) -> bool:
    """Remove one of the user's own tokens; another user's token is left alone."""
    if token not in push_selectors.user_device_tokens(uid=uid):
        return False
    return push_services.device_token_remove(token=token)
