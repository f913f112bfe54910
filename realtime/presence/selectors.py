"""Reads of the socket registry and presence (sync ORM code)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from .models import LiveSocket, PresenceStatus, ServerInstance, UserPresence


@dataclass(frozen=True, slots=True)
class OnlineState:
    online: bool
    status: str
    sockets: int


def user_online_state(*, uid: str) -> OnlineState:
    """`GET /online/{uid}`: online while any socket lives and through the grace period after
    the last one left (until presence turns inactive), with the user's status."""
    sockets = LiveSocket.objects.filter(uid=uid).count()
    status = (
        UserPresence.objects.filter(uid=uid).values_list("status", flat=True).first()
        or PresenceStatus.INACTIVE
    )
    if sockets and status == PresenceStatus.INACTIVE:
        status = PresenceStatus.ACTIVE  # registered but the batch that flips it is in flight
    return OnlineState(online=status != PresenceStatus.INACTIVE, status=status, sockets=sockets)


def user_has_live_socket(*, uid: str) -> bool:
    return LiveSocket.objects.filter(uid=uid).exists()


def live_instance_ids(*, since: dt.datetime) -> list[str]:
    """Instances that heartbeated since `since` and are not stopping."""
    return list(
        ServerInstance.objects.filter(last_seen__gte=since, shutting_down=False).values_list(
            "id", flat=True
        )
    )
