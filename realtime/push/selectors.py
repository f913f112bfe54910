"""Reads of device tokens (sync ORM code)."""

from .models import DeviceToken


def user_device_tokens(*, uid: str) -> list[str]:
    """Every registered token of the user."""
    return list(DeviceToken.objects.filter(uid=uid).values_list("token", flat=True))


def users_with_device_tokens(*, uids: list[str]) -> set[str]:
    """Those of `uids` with a registered token, in a query per 500 users."""
    found: set[str] = set()
    for start in range(0, len(uids), 500):
        rows = DeviceToken.objects.filter(uid__in=uids[start : start + 500])
        found.update(rows.values_list("uid", flat=True).distinct())
    return found
