"""Reads of device tokens (sync ORM code)."""

from .models import DeviceToken


def user_device_tokens(*, uid: str) -> list[str]:
    """Every registered token of the user."""
    return list(DeviceToken.objects.filter(uid=uid).values_list("token", flat=True))
