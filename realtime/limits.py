"""Caps against hostile clients: sockets per user, rooms per socket, event throttling.

Counts are per process: with several workers a user may hold the cap on each (documented in
SECURITY.md). Sessions per client address are capped in the Engine.IO server.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from .conf import realtime_settings
from .envelope import TooManyConnections, TooManyRooms
from .logcontext import socket_tags

if TYPE_CHECKING:
    from .namespace import NamespaceConsumer

logger = logging.getLogger(__name__)

_user_sockets: Counter[str] = Counter()


def claim_user_socket(socket: NamespaceConsumer) -> None:
    """Count a connecting socket against its user's cap; TooManyConnections past it."""
    if socket.identity is None:
        return
    uid = socket.identity.uid
    if _user_sockets[uid] >= int(realtime_settings.MAX_SOCKETS_PER_USER):
        logger.warning(
            "user %s is at MAX_SOCKETS_PER_USER; connect refused", uid, extra=log_tags(socket)
        )
        raise TooManyConnections()
    _user_sockets[uid] += 1


def connected_here(uids: Iterable[str]) -> set[str]:
    """Those of `uids` with a socket connected to this process (no query needed)."""
    return {uid for uid in uids if _user_sockets.get(uid, 0) > 0}


def release_user_socket(socket: NamespaceConsumer) -> None:
    if socket.identity is None:
        return
    uid = socket.identity.uid
    _user_sockets[uid] -= 1
    if _user_sockets[uid] <= 0:
        del _user_sockets[uid]


def check_room_quota(socket: NamespaceConsumer) -> None:
    if len(socket.rooms) >= int(realtime_settings.MAX_ROOMS_PER_SOCKET):
        raise TooManyRooms()


def admit_event(socket: NamespaceConsumer) -> bool | None:
    """Ask the socket's throttles about one client event.

    True: go ahead. False: throttled (answer RATE_LIMITED). None: the client keeps flooding
    past THROTTLE_DISCONNECT_AFTER and is to be disconnected.
    """
    if all(throttle.allow(socket) for throttle in socket.throttles):
        return True
    if socket.abuse.record():
        logger.warning(
            "%s: socket %s keeps flooding; disconnecting",
            socket.namespace,
            socket.sid,
            extra=log_tags(socket),
        )
        return None
    return False


def log_tags(socket: NamespaceConsumer) -> dict[str, str]:
    """For lines logged outside the socket's own task (its packets are read elsewhere)."""
    uid = socket.identity.uid if socket.identity is not None else None
    return socket_tags(socket.sid, socket.namespace, uid)
