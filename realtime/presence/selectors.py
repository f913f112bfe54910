"""Reads of the socket registry and presence (sync ORM code)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.utils import timezone

from ..conf import realtime_settings
from ..selectors import uids_among
from .models import LiveSocket, PresenceStatus, ServerInstance, UserPresence


@dataclass(frozen=True, slots=True)
class OnlineState:
    online: bool
    status: str
    sockets: int


def user_online_state(*, uid: str) -> OnlineState:
    """`GET /online/{uid}`: online while any socket lives, and for PRESENCE_GRACE_S after the
    last one left (a reload never shows the user offline), with the user's status."""
    sockets = LiveSocket.objects.filter(uid=uid).count()
    status, last_seen = UserPresence.objects.filter(uid=uid).values_list(
        "status", "last_seen"
    ).first() or (PresenceStatus.INACTIVE, None)
    if sockets:
        if status == PresenceStatus.INACTIVE:
            status = PresenceStatus.ACTIVE  # registered; the batch that flips it is in flight
        return OnlineState(online=True, status=status, sockets=sockets)
    # no socket: the grace period runs from the last one's leaving (`last_seen`), whether or
    # not an instance is left to flip the status when it ends
    grace = dt.timedelta(seconds=float(realtime_settings.PRESENCE_GRACE_S))
    if status != PresenceStatus.INACTIVE and last_seen and last_seen >= timezone.now() - grace:
        return OnlineState(online=True, status=status, sockets=0)
    return OnlineState(online=False, status=PresenceStatus.INACTIVE, sockets=0)


def user_has_live_socket(*, uid: str) -> bool:
    return LiveSocket.objects.filter(uid=uid).exists()


def users_with_live_socket(*, uids: list[str]) -> set[str]:
    """Those of `uids` with a live socket on any instance."""
    return uids_among(LiveSocket.objects.all(), uids)


def live_instance_ids(*, since: dt.datetime, layer: str | None = None) -> list[str]:
    """Instances that heartbeated since `since` and are not stopping (on `layer`, if given)."""
    instances = ServerInstance.objects.filter(last_seen__gte=since, shutting_down=False)
    if layer is not None:
        instances = instances.filter(layer=layer)
    return list(instances.values_list("id", flat=True))
