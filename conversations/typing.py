"""Typing indicators of one socket: each stops by itself after TYPING_TIMEOUT_S, or on leave."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from django.conf import settings

from realtime.emit import emit
from realtime.tasks import spawn

from .events import NAMESPACES, user_room
from .wire import typing_wire

DEFAULT_TYPING_TIMEOUT_S = 8.0


def typing_timeout() -> float:
    return float(getattr(settings, "TYPING_TIMEOUT_S", DEFAULT_TYPING_TIMEOUT_S))


async def typing_broadcast(*, cid: int, uid: str, recipients: list[str], is_typing: bool) -> None:
    """`typing {cid, user_id, is_typing}` to the other participants (never the typist)."""
    if not recipients:
        return
    payload = typing_wire(cid, uid, is_typing)
    rooms = [user_room(recipient) for recipient in recipients]
    for namespace in NAMESPACES:
        await emit("typing", payload, namespace=namespace, to=rooms)


Broadcast = Callable[..., Coroutine[Any, Any, None]]


class TypingTracker:
    """Which conversations a socket's user is typing in, each with its expiry timer.

    `broadcast(cid=, uid=, recipients=, is_typing=)` tells the others (the team's `typing`
    unless given another, e.g. prospects' `prospect_typing`).
    """

    def __init__(self, uid: str, broadcast: Broadcast = typing_broadcast) -> None:
        self.uid = uid
        self.broadcast = broadcast
        self._active: dict[int, tuple[asyncio.TimerHandle, list[str]]] = {}

    @property
    def conversations(self) -> list[int]:
        return list(self._active)

    async def set(self, *, cid: int, recipients: list[str], is_typing: bool) -> None:
        """Start (or keep alive) or stop typing in `cid`, and tell `recipients`."""
        self._cancel(cid)
        if is_typing:
            loop = asyncio.get_running_loop()
            timer = loop.call_later(typing_timeout(), self._expired, cid)
            self._active[cid] = (timer, recipients)
        await self.broadcast(cid=cid, uid=self.uid, recipients=recipients, is_typing=is_typing)

    async def stop_all(self) -> None:
        """The socket is gone: every indicator it started stops now."""
        for cid in list(self._active):
            recipients = self._cancel(cid)
            await self.broadcast(cid=cid, uid=self.uid, recipients=recipients, is_typing=False)

    def _cancel(self, cid: int) -> list[str]:
        timer, recipients = self._active.pop(cid, (None, []))
        if timer is not None:
            timer.cancel()
        return recipients

    def _expired(self, cid: int) -> None:
        """The timer fired: forget it at once (a new `typing` re-arms), then tell the others."""
        _, recipients = self._active.pop(cid, (None, []))
        spawn(self.broadcast(cid=cid, uid=self.uid, recipients=recipients, is_typing=False))
