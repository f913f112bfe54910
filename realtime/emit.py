"""emit(): send an event to rooms or to one socket from anywhere: a consumer, a DRF view, a
management command, another process. One encode per call; the hub does the fan-out."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from asgiref.sync import async_to_sync

from .hub import get_hub
from .namespace import frames_for
from .presence.instances import live_instances
from .socketio.packets import Packet, PacketType

COUNT_TIMEOUT_S = 0.5

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)


async def emit(
    event: str,
    *args: Any,
    namespace: str = "/",
    to: str | Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    exclude_sids: Iterable[str] = (),
) -> int:
    """Emit to rooms (`to`), or to the whole namespace when `to` is None.

    Returns how many sockets of this process received it; other processes deliver to theirs.
    """
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved Socket.IO event name")
    frames = frames_for(Packet(PacketType.EVENT, namespace, [event, *args]))
    rooms = None if to is None else ([to] if isinstance(to, str) else list(to))
    return await get_hub().broadcast(namespace, frames, rooms, list(exclude), list(exclude_sids))


async def emit_counted(
    event: str,
    *args: Any,
    namespace: str = "/",
    to: str | Iterable[str] | None = None,
    exclude: Iterable[str] = (),
) -> int:
    """Emit like `emit`, and count the sockets it targets on every live instance."""
    delivered = await emit(event, *args, namespace=namespace, to=to, exclude=exclude)
    hub = get_hub()
    if hub.layer is None:
        return delivered
    rooms = None if to is None else ([to] if isinstance(to, str) else list(to))
    instances = await live_instances()
    remote = await hub.count_remote(
        instances, namespace, rooms, list(exclude), [], timeout=COUNT_TIMEOUT_S
    )
    return delivered + remote


async def emit_to_sid(event: str, *args: Any, sid: str, namespace: str = "/") -> bool:
    """Emit to one socket by its sid, on whichever process holds it."""
    frames = frames_for(Packet(PacketType.EVENT, namespace, [event, *args]))
    return await get_hub().send_to_sid(sid, frames)


async def disconnect_sid(sid: str) -> None:
    """Disconnect one socket by its sid, on whichever process holds it."""
    await get_hub().disconnect_sid(sid)


emit_sync = async_to_sync(emit)
emit_to_sid_sync = async_to_sync(emit_to_sid)
disconnect_sid_sync = async_to_sync(disconnect_sid)
