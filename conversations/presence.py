"""`active_status {userID, conversation_active_status}` to the account, on every status change."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from django.utils import timezone

from realtime.emit import emit
from realtime.presence.registry import publish
from realtime.presence.services import presence_set_status

from .events import NAMESPACES, account_room


async def active_status_broadcast(*, uid: str, account_id: str | None, status: str) -> None:
    """Tell the user's account (both conversation namespaces) the user's status."""
    if not account_id or uid.startswith("visitor:"):
        return  # visitors' presence is the live chat's business, not the team's
    payload = {"userID": uid, "conversation_active_status": status}
    for namespace in NAMESPACES:
        await emit("active_status", payload, namespace=namespace, to=account_room(account_id))


async def on_presence_changed(
    sender: Any, *, uid: str, account_id: str | None, status: str, **kwargs: Any
) -> None:
    """`presence_changed` receiver: first socket in, last socket out after the grace period."""
    await active_status_broadcast(uid=uid, account_id=account_id, status=status)


async def status_set(*, uid: str, account_id: str | None, status: str) -> None:
    """The user's own choice; the account hears of it once, changed or not."""
    change = await database_sync_to_async(presence_set_status)(
        uid=uid, account_id=account_id, status=status, now=timezone.now()
    )
    if change is None:
        await active_status_broadcast(uid=uid, account_id=account_id, status=status)
    else:
        await publish([change])  # every receiver hears of a real change; ours broadcasts it
