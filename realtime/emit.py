"""emit(): send an event to rooms or to one socket from anywhere: a consumer, a DRF view, a
management command, another process. One encode per call; the hub does the fan-out."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Coroutine, Iterable, Iterator
from typing import Any, NamedTuple

from asgiref.sync import async_to_sync
from django.db import transaction

from . import metrics
from .batching import to_loop
from .hub import Broadcast, Hub, get_hub
from .namespace import frames_for
from .presence.instances import live_instances
from .socketio.packets import RESERVED_EVENTS, Packet, PacketType, encode_event_text
from .tasks import spawn

# how long a counted emit waits for the other processes' counts: a busy process answers late,
# and an answer missed is a socket not counted (socket.io's Redis adapter waits 5 s)
COUNT_TIMEOUT_S = 3.0

logger = logging.getLogger(__name__)


async def emit(
    event: str,
    *args: Any,
    namespace: str = "/",
    to: str | Iterable[str] | None = None,
    exclude: Iterable[str] = (),
    exclude_sids: Iterable[str] = (),
) -> int:
    """Emit to rooms (`to`), or to the whole namespace when `to` is None.

    Returns how many sockets of this process received it; other processes deliver to theirs
    (their part is queued in order, realtime.outbox, and not awaited).
    """
    frames = _checked_frames(event, args, namespace)
    return await get_hub().broadcast(
        namespace, frames, _rooms(to), list(exclude), list(exclude_sids)
    )


def _checked_frames(event: str, args: tuple[Any, ...], namespace: str) -> list[str | bytes]:
    """The frames of an event to emit (counted in the metrics); a reserved name raises."""
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved Socket.IO event name")
    metrics.count(metrics.EVENTS_OUT, namespace, event)
    return _event_frames(namespace, event, args)


def _event_frames(namespace: str, event: str, args: tuple[Any, ...]) -> list[str | bytes]:
    text = encode_event_text(namespace, [event, *args])
    if text is not None:
        return ["4" + text]  # an Engine.IO MESSAGE, as frames_for makes it
    return frames_for(Packet(PacketType.EVENT, namespace, [event, *args]))


def _rooms(to: str | Iterable[str] | None) -> list[str] | None:
    """`to` as the hub takes it: None (the whole namespace) or a list of rooms."""
    return None if to is None else ([to] if isinstance(to, str) else list(to))


async def emit_counted(
    event: str,
    *args: Any,
    namespace: str = "/",
    to: str | Iterable[str] | None = None,
    exclude: Iterable[str] = (),
) -> int:
    """Emit like `emit`, and count the sockets it reached on every process (each process it
    reached answers, Hub.broadcast_counted). Returns once they have: a REST caller is paced by
    the layer, not queued. On the core layer, which cannot tell whom a broadcast reached, the
    live instances (from their heartbeats) are asked instead."""
    frames = _checked_frames(event, args, namespace)
    rooms = _rooms(to)
    hub = get_hub()
    delivered, remote = await hub.broadcast_counted(
        namespace, frames, rooms, list(exclude), [], timeout=COUNT_TIMEOUT_S
    )
    if remote is None:
        instances = await live_instances()
        remote = await hub.count_remote(
            instances, namespace, rooms, list(exclude), [], timeout=COUNT_TIMEOUT_S
        )
    return delivered + remote


async def emit_to_sid(event: str, *args: Any, sid: str, namespace: str = "/") -> bool:
    """Emit to one socket by its sid, on whichever process holds it."""
    frames = _event_frames(namespace, event, args)
    return await get_hub().send_to_sid(sid, frames)


async def disconnect_sid(sid: str) -> None:
    """Disconnect one socket by its sid, on whichever process holds it."""
    await get_hub().disconnect_sid(sid)


emit_sync = async_to_sync(emit)
emit_to_sid_sync = async_to_sync(emit_to_sid)
disconnect_sid_sync = async_to_sync(disconnect_sid)


class Emitted(NamedTuple):
    """An emit a service asked for, as `capture_emits()` records it (a named tuple: a batch of
    messages makes thousands, and a frozen dataclass's `__init__` is several times slower)."""

    event: str
    args: tuple[Any, ...]
    namespace: str
    to: str | tuple[str, ...] | None
    exclude: tuple[str, ...]


_recorders: list[list[Emitted]] = []


def emitted(
    event: str,
    *args: Any,
    namespace: str,
    to: str | Iterable[str] | None,
    exclude: Iterable[str] = (),
) -> Emitted:
    """An emit to send later (`emit_on_commit`, `emit_all_on_commit`)."""
    if event in RESERVED_EVENTS:
        raise ValueError(f"{event!r} is a reserved Socket.IO event name")
    if to is not None and not isinstance(to, str):
        to = tuple(to)
    return Emitted(event, args, namespace, to, tuple(exclude))


def emit_on_commit(
    event: str,
    *args: Any,
    namespace: str,
    to: str | Iterable[str] | None,
    exclude: Iterable[str] = (),
) -> None:
    """From sync service code: emit once the current transaction commits (at once outside one).

    Clients never hear of a row that was rolled back. The emit runs on the server's event loop
    and never blocks the caller; emits scheduled in one thread start in the order asked.
    """
    emit_all_on_commit([emitted(event, *args, namespace=namespace, to=to, exclude=exclude)])


def emit_all_on_commit(batch: list[Emitted]) -> None:
    """`emit_on_commit` of every emit of `batch`, in its order: one callback at the commit and
    one task on the server's loop, however many (a batch of messages has thousands)."""
    if batch:
        transaction.on_commit(lambda: _schedule(batch))


def _schedule(batch: list[Emitted]) -> None:
    for recorder in _recorders:
        recorder.extend(batch)
    loop = get_hub().loop
    if loop is None or loop.is_closed():
        return  # no server runs in this process (a management command, a unit test)

    def start() -> None:
        spawn(_emit_one(batch[0]) if len(batch) == 1 else _emit_all(batch))

    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        start()
    else:  # from a batch of messages: after its callers hear their acks (realtime.batching)
        to_loop(loop, start)


def _emit_one(emitted: Emitted) -> Coroutine[Any, Any, int]:
    return emit(
        emitted.event,
        *emitted.args,
        namespace=emitted.namespace,
        to=emitted.to,
        exclude=emitted.exclude,
    )


async def _emit_all(batch: list[Emitted]) -> None:
    """`emit` of each, in order: delivered here, and with a channel layer queued for the other
    processes as one message per namespace (`Hub.broadcast_many`), not one per room of each."""
    hub = get_hub()
    remote = _emit_all_here(hub, batch, remote=hub.layer is not None)
    for namespace, broadcasts in remote.items():
        try:
            await hub.broadcast_many(namespace, broadcasts)
        except Exception:
            logger.exception("emit failed")


def _emit_all_here(hub: Hub, batch: list[Emitted], *, remote: bool) -> dict[str, list[Broadcast]]:
    """Deliver each emit to this process's sockets, encoded only if one is a target (a
    message's events go to both team namespaces, most sockets are on one) or if other
    processes need it (`remote`: then it is returned, by namespace). Counted in the metrics
    once per batch."""
    sent: Counter[tuple[str, str]] = Counter()
    delivered: Counter[str] = Counter()
    others: dict[str, list[Broadcast]] = {}
    everyone = hub.rooms
    for event, args, namespace, to, exclude in batch:
        sent[namespace, event] += 1
        if not remote and not everyone.get((namespace, None)):
            continue  # no socket of the namespace here, and nowhere else
        try:
            rooms = _rooms(to)
            targets = hub.local_targets(namespace, rooms, exclude)
            if not targets and not remote:
                continue
            frames = _event_frames(namespace, event, args)
            for socket in targets:
                socket.deliver(frames)
            delivered[namespace] += len(targets)
            if remote:
                others.setdefault(namespace, []).append((frames, rooms, list(exclude)))
        except Exception:
            logger.exception("emit failed")
    for (namespace, event), count in sent.items():
        metrics.count(metrics.EVENTS_OUT, namespace, event, n=count)
    for namespace, count in delivered.items():
        metrics.count(metrics.DELIVERIES, namespace, n=count)
    return others


@contextlib.contextmanager
def capture_emits() -> Iterator[list[Emitted]]:
    """Record every `emit_on_commit` that fires inside the block (for service tests)."""
    recorded: list[Emitted] = []
    _recorders.append(recorded)
    try:
        yield recorded
    finally:
        _recorders.remove(recorded)
