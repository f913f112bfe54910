"""Offline push: notify the users who have no live socket anywhere, off the caller's path.

`schedule_offline_push` returns at once; a background task leaves out the users with a socket
on this process, reads the others' sockets (every instance's) in one query and pushes in
worker threads (never the one thread Django's async-to-sync calls share), a few
users at a time. Failures are logged, never raised to the caller.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async

from ..conf import realtime_settings
from ..limits import connected_here
from ..presence.selectors import users_with_live_socket
from ..tasks import spawn
from .backends import fcm_data
from .selectors import users_with_device_tokens
from .services import push_to_user

logger = logging.getLogger(__name__)

TITLE_MAX = 200
BODY_MAX = 1_000

_semaphores: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


def push_title_body(
    payload: Any, *, default_title: str = "", default_body: str = ""
) -> tuple[str, str]:
    """Title and body from the payload's `title` / `message` when present, else the defaults.

    `message` may be the text itself or a message object with a `content` string.
    """
    payload = payload if isinstance(payload, Mapping) else {}
    title = payload.get("title")
    message = payload.get("message")
    if isinstance(message, Mapping):
        message = message.get("content")
    title = title if isinstance(title, str) and title.strip() else default_title
    body = message if isinstance(message, str) and message.strip() else default_body
    return _clip(title.strip(), TITLE_MAX), _clip(body.strip(), BODY_MAX)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


@dataclass(frozen=True, slots=True)
class OfflinePush:
    """A push for those of `uids` with no live socket."""

    uids: list[str]
    title: str
    body: str
    data: Mapping[str, Any] | None = None


def schedule_offline_push(
    uids: Iterable[str], *, title: str, body: str, data: Mapping[str, Any] | None = None
) -> asyncio.Task[None] | None:
    """Push to each of `uids` that has no live socket on any instance, in the background.

    Call from async code; returns the background task at once (None when nothing to do).
    """
    return schedule_offline_pushes([OfflinePush(list(uids), title, body, data)])


def schedule_offline_pushes(pushes: Iterable[OfflinePush]) -> asyncio.Task[None] | None:
    """`schedule_offline_push` of each, in one background task that reads the sockets of all
    their users at once (a batch of messages: one query, not one per message or user)."""
    ready: list[tuple[list[str], str, str, dict[str, str]]] = []
    for push in pushes:
        targets = list(dict.fromkeys(str(uid) for uid in push.uids if uid))
        if targets:
            ready.append((targets, push.title, push.body, _strings(push.data)))
    if not ready:
        return None
    try:
        asyncio.get_running_loop()
    except RuntimeError:  # a sync caller
        users = sum(len(targets) for targets, *_ in ready)
        logger.error("offline push needs a running event loop; %d user(s) skipped", users)
        return None
    return spawn(_push_offline(ready))


def _strings(data: Mapping[str, Any] | None) -> dict[str, str]:
    try:
        return fcm_data(data)  # copied now: the caller may reuse its payload
    except ValueError:  # e.g. a circular structure
        logger.exception("offline push: data not serializable, sent without it")
        return {}


async def _push_offline(pushes: list[tuple[list[str], str, str, dict[str, str]]]) -> None:
    users = list(dict.fromkeys(uid for targets, *_ in pushes for uid in targets))
    here = connected_here(users)  # live, whatever the registry has written yet
    users = [uid for uid in users if uid not in here]
    if not users:
        return
    try:  # a query or two for all of them, not one each
        reachable = await database_sync_to_async(_offline_with_devices, thread_sensitive=False)(
            uids=users
        )
    except Exception:
        logger.exception("offline push: the sockets and devices of %d user(s) not read", len(users))
        return
    await asyncio.gather(
        *(
            _push(uid, title=title, body=body, data=data)
            for targets, title, body, data in pushes
            for uid in targets
            if uid in reachable
        )
    )


def _offline_with_devices(*, uids: list[str]) -> set[str]:
    """Those of `uids` with no live socket and a registered device (only they get a push)."""
    live = users_with_live_socket(uids=uids)
    offline = [uid for uid in uids if uid not in live]
    return users_with_device_tokens(uids=offline) if offline else set()


async def _push(uid: str, *, title: str, body: str, data: dict[str, str]) -> None:
    async with _semaphore():
        try:
            outcome = await database_sync_to_async(push_to_user, thread_sensitive=False)(
                uid=uid, title=title, body=body, data=data
            )
        except Exception:
            logger.exception("offline push to user %s failed", uid)
            return
    if outcome.removed or outcome.failed:
        logger.info("offline push to user %s: %s", uid, outcome)


def _semaphore() -> asyncio.Semaphore:
    """The running loop's bound on pushes in flight (`REALTIME["PUSH_CONCURRENCY"]`)."""
    loop = asyncio.get_running_loop()
    semaphore = _semaphores.get(loop)
    if semaphore is None:
        semaphore = _semaphores[loop] = asyncio.Semaphore(int(realtime_settings.PUSH_CONCURRENCY))
    return semaphore
