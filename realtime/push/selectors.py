"""Reads of device tokens (sync ORM code)."""

from ..selectors import uids_among
from .models import DeviceToken


def user_device_tokens(*, uid: str) -> list[str]:
    """Every registered token of the user."""
    return list(DeviceToken.objects.filter(uid=uid).values_list("token", flat=True))


def users_with_device_tokens(*, uids: list[str]) -> set[str]:
    """Those of `uids` with a registered token."""
    return uids_among(DeviceToken.objects.all(), uids)
