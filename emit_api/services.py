"""The REST emits: to a user, an account or any room, counted across every instance."""

from __future__ import annotations

from typing import Any

from realtime.emit import emit_counted
from realtime.push.notify import push_title_body, schedule_offline_push


async def emit_to_user(*, user_id: str, event: str, payload: Any, namespace: str) -> int:
    """Emit to every socket of the user; a user with no live socket anywhere gets a push."""
    delivered = await emit_counted(event, payload, namespace=namespace, to=f"user:{user_id}")
    if delivered == 0:
        title, body = push_title_body(payload, default_title=event)
        schedule_offline_push([user_id], title=title, body=body, data={"event": event})
    return delivered


async def emit_to_account(*, account_id: str, event: str, payload: Any, namespace: str) -> int:
    return await emit_counted(event, payload, namespace=namespace, to=f"account:{account_id}")


async def emit_to_room(*, room: str, event: str, payload: Any, namespace: str) -> int:
    return await emit_counted(event, payload, namespace=namespace, to=room)
