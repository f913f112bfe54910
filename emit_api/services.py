"""The REST emits: to a user, an account or any room, counted across every instance."""

from __future__ import annotations

from typing import Any

from realtime.emit import emit_counted


async def emit_to_user(*, user_id: str, event: str, payload: Any, namespace: str) -> int:
    return await emit_counted(event, payload, namespace=namespace, to=f"user:{user_id}")


async def emit_to_account(*, account_id: str, event: str, payload: Any, namespace: str) -> int:
    return await emit_counted(event, payload, namespace=namespace, to=f"account:{account_id}")


async def emit_to_room(*, room: str, event: str, payload: Any, namespace: str) -> int:
    return await emit_counted(event, payload, namespace=namespace, to=room)
