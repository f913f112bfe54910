"""The process hub: local sockets and rooms, and this process's side of the channel layer.

Each process joins a room's channel-layer group once, for all of its sockets in that room, and
delivers a broadcast to them itself; the layer carries one message per process per broadcast.
A broadcast's frames are encoded once, by the emitter, and every receiving socket writes them
as they are.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer

from . import metrics
from .conf import realtime_settings
from .groups import group_name, hub_channel
from .ids import PROCESS_ID, owner_of
from .tasks import spawn

if TYPE_CHECKING:
    from .namespace import NamespaceConsumer

logger = logging.getLogger(__name__)

Frames = list[str | bytes]
RoomKey = tuple[str, str | None]  # (namespace, room); room None = the whole namespace
_SEEN_BROADCASTS = 4096


class Hub:
    """Everything this process knows about live sockets and where broadcasts go."""

    def __init__(self) -> None:
        self.sockets: dict[str, NamespaceConsumer] = {}
        self.rooms: dict[RoomKey, set[NamespaceConsumer]] = defaultdict(set)
        self.channel = hub_channel(PROCESS_ID)
        self._layer: Any = None
        self._layer_loaded = False
        self._groups: dict[str, asyncio.Future[None]] = {}
        self._discards: dict[str, asyncio.TimerHandle] = {}
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._listener: asyncio.Task[None] | None = None
        self._refresher: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's loop, once it runs
        self.handlers: dict[str, Callable[[dict[str, Any]], None]] = {}
        self.engines: dict[str, Any] = {}  # mount path -> EngineServer, for forwarded requests
        self._layer_failing_since: float | None = None
        self._recovery: asyncio.Task[None] | None = None

    def bind_loop(self) -> None:
        """Remember the server's event loop (sync code in other threads emits on it), and
        start listening on the layer: any process may be asked to serve its sessions."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self._ensure_listening()

    def register(self, message_type: str, handler: Callable[[dict[str, Any]], None]) -> None:
        """Handle layer messages of `message_type` (dotted, `sio.` prefix) with `handler`."""
        self.handlers[message_type] = handler

    async def send_to_process(self, process_id: str, message: dict[str, Any]) -> None:
        try:
            await self.layer.send(hub_channel(process_id), message)
        except ChannelFull:
            metrics.LAYER_DROPS.labels("send").inc()
            logger.error("hub: channel of process %s is full; message dropped", process_id)
        except Exception as exc:
            self.layer_failed("send", exc)

    async def request(
        self, process_id: str, message: dict[str, Any], timeout: float
    ) -> dict[str, Any] | None:
        """Send `message` to another process and wait for its reply (None on timeout)."""
        reply_to = await self.layer.new_channel()
        await self.send_to_process(process_id, {**message, "reply_to": reply_to})
        try:
            return await asyncio.wait_for(self.layer.receive(reply_to), timeout)
        except TimeoutError:
            return None

    async def reply(self, request: dict[str, Any], response: dict[str, Any]) -> None:
        await self.layer.send(request["reply_to"], {"type": "sio.reply", **response})

    # ----- the layer -----------------------------------------------------------------

    @property
    def layer(self) -> Any:
        """The channel layer, or None when this process is the only one (in-memory layer)."""
        if not self._layer_loaded:
            layer = get_channel_layer()
            self._layer = None if isinstance(layer, InMemoryChannelLayer) else layer
            self._layer_loaded = True
        return self._layer

    def _ensure_listening(self) -> None:
        if self.layer is None or (self._listener is not None and not self._listener.done()):
            return
        loop = asyncio.get_running_loop()
        self._listener = loop.create_task(self._listen())
        self._refresher = loop.create_task(self._refresh_groups())

    async def _listen(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.layer_failed("receive", exc)
                await asyncio.sleep(1.0)
                continue
            try:
                self.dispatch(message)
            except Exception:
                logger.exception("hub: bad layer message %r", message.get("type"))

    def dispatch(self, message: dict[str, Any]) -> None:
        """Route a layer message to its handler: type `sio.broadcast` -> `sio_broadcast`."""
        registered = self.handlers.get(message["type"])
        if registered is not None:
            registered(message)
            return
        handler = getattr(self, message["type"].replace(".", "_"), None)
        if handler is None or not message["type"].startswith("sio."):
            logger.warning("hub: no handler for %r", message["type"])
            return
        handler(message)

    # ----- layer health ----------------------------------------------------------------

    @property
    def layer_status(self) -> str:
        """`ok`, or `degraded` while the channel layer fails (local sockets still served)."""
        return "degraded" if self._layer_failing_since is not None else "ok"

    def layer_failed(self, operation: str, exc: BaseException) -> None:
        """Count a failed layer operation; the first failure starts the recovery loop."""
        metrics.LAYER_ERRORS.labels(operation).inc()
        if self._layer_failing_since is not None:
            logger.debug("hub: channel layer %s failed again: %r", operation, exc)
            return
        self._layer_failing_since = time.monotonic()
        logger.error(
            "hub: channel layer %s failed (%r); serving local sockets only until it is back",
            operation,
            exc,
        )
        self._recovery = spawn(self._recover())

    async def _recover(self) -> None:
        """Probe the layer every second; once it answers, rejoin every group of this process
        (a restarted Redis has forgotten them all) and report healthy again."""
        while True:
            await asyncio.sleep(1.0)
            try:
                await asyncio.wait_for(self.layer.send(self.channel, {"type": "sio.noop"}), 2.0)
                for group in list(self._groups):
                    await asyncio.wait_for(self.layer.group_add(group, self.channel), 2.0)
            except Exception:
                continue
            outage = time.monotonic() - (self._layer_failing_since or time.monotonic())
            self._layer_failing_since = None
            logger.warning(
                "hub: channel layer back after %.1f s; %d groups rejoined",
                outage,
                len(self._groups),
            )
            return

    def sio_noop(self, message: dict[str, Any]) -> None:
        """The recovery probe's own message."""

    async def _refresh_groups(self) -> None:
        """Re-add this process to its groups before the layer's group expiry drops it."""
        while True:
            await asyncio.sleep(float(realtime_settings.GROUP_REFRESH_S))
            for group in list(self._groups):
                try:
                    await self.layer.group_add(group, self.channel)
                except Exception:
                    logger.exception("hub: refreshing group %s failed", group)

    # ----- local sockets and rooms ----------------------------------------------------

    def add_socket(self, socket: NamespaceConsumer) -> None:
        self.sockets[socket.sid] = socket
        self._ensure_listening()

    async def join(self, socket: NamespaceConsumer, room: str | None) -> None:
        if self.sockets.get(socket.sid) is not socket:
            return  # gone already (its transport closed while it connected): it joins nothing
        key = (socket.namespace, room)
        members = self.rooms[key]
        members.add(socket)
        if self.layer is not None:
            await self._join_group(group_name(*key))

    async def leave(self, socket: NamespaceConsumer, room: str | None) -> None:
        self._leave_local(socket, (socket.namespace, room))

    def remove_socket(self, socket: NamespaceConsumer) -> None:
        """Forget a socket that is gone, and every room it was in."""
        if self.sockets.get(socket.sid) is socket:
            del self.sockets[socket.sid]
        for room in [*socket.rooms, None]:
            self._leave_local(socket, (socket.namespace, room))

    def _leave_local(self, socket: NamespaceConsumer, key: RoomKey) -> None:
        members = self.rooms.get(key)
        if members is None:
            return
        members.discard(socket)
        if not members:
            del self.rooms[key]
            if self.layer is not None:
                self._schedule_discard(group_name(*key), key)

    async def _join_group(self, group: str) -> None:
        timer = self._discards.pop(group, None)
        if timer is not None:
            timer.cancel()
        future = self._groups.get(group)
        if future is None:
            future = asyncio.ensure_future(self.layer.group_add(group, self.channel))
            self._groups[group] = future
        try:
            await asyncio.shield(future)
        except Exception as exc:
            # keep the group: the recovery rejoins it once the layer answers again
            self._groups[group] = _done_future()
            self.layer_failed("group_add", exc)

    def _schedule_discard(self, group: str, key: RoomKey) -> None:
        """Leave a group a little later, unless a socket joins the room again meanwhile."""
        if group in self._discards:
            return

        def discard() -> None:
            self._discards.pop(group, None)
            if key in self.rooms or group not in self._groups:
                return
            del self._groups[group]
            spawn(self._discard_group(group))

        loop = asyncio.get_running_loop()
        self._discards[group] = loop.call_later(
            float(realtime_settings.GROUP_DISCARD_DELAY_S), discard
        )

    async def _discard_group(self, group: str) -> None:
        try:
            await self.layer.group_discard(group, self.channel)
        except Exception:
            logger.exception("hub: leaving group %s failed", group)

    # ----- delivery ------------------------------------------------------------------

    def local_targets(
        self,
        namespace: str,
        rooms: Iterable[str] | None,
        exclude_rooms: Iterable[str] = (),
        exclude_sids: Iterable[str] = (),
    ) -> set[NamespaceConsumer]:
        """The local sockets of `namespace` in any of `rooms` (all of them for None)."""
        if rooms is None:
            targets = set(self.rooms.get((namespace, None), ()))
        else:
            targets = set()
            for room in rooms:
                targets.update(self.rooms.get((namespace, room), ()))
        for room in exclude_rooms:
            targets.difference_update(self.rooms.get((namespace, room), ()))
        if exclude_sids:
            excluded = set(exclude_sids)
            targets = {socket for socket in targets if socket.sid not in excluded}
        return targets

    async def broadcast(
        self,
        namespace: str,
        frames: Frames,
        rooms: list[str] | None = None,
        exclude_rooms: list[str] | None = None,
        exclude_sids: list[str] | None = None,
    ) -> int:
        """Deliver ready frames to the rooms on every process; returns the local count."""
        exclude_rooms = exclude_rooms or []
        exclude_sids = exclude_sids or []
        delivered = self._deliver(namespace, frames, rooms, exclude_rooms, exclude_sids)
        if self.layer is None:
            return delivered
        message = {
            "type": "sio.broadcast",
            "origin": PROCESS_ID,
            "id": secrets.token_hex(8),
            "ns": namespace,
            "rooms": rooms,
            "except_rooms": exclude_rooms,
            "except_sids": exclude_sids,
            "frames": frames,
        }
        groups = (
            [group_name(namespace, None)]
            if rooms is None
            else [group_name(namespace, room) for room in rooms]
        )
        await asyncio.gather(*(self._group_send(group, message) for group in groups))
        return delivered

    async def _group_send(self, group: str, message: dict[str, Any]) -> None:
        try:
            await self.layer.group_send(group, message)
        except ChannelFull:
            metrics.LAYER_DROPS.labels("group_send").inc()
            logger.error("hub: channel full sending to group %s; broadcast dropped", group)
        except Exception as exc:
            self.layer_failed("group_send", exc)

    def _deliver(
        self,
        namespace: str,
        frames: Frames,
        rooms: list[str] | None,
        exclude_rooms: list[str],
        exclude_sids: list[str],
    ) -> int:
        targets = self.local_targets(namespace, rooms, exclude_rooms, exclude_sids)
        for socket in targets:
            socket.deliver(frames)
        if targets:
            metrics.DELIVERIES.labels(namespace).inc(len(targets))
        return len(targets)

    def sio_broadcast(self, message: dict[str, Any]) -> None:
        if message["origin"] == PROCESS_ID or self._already_seen(message["id"]):
            return  # delivered locally when it was emitted, or via another of its rooms
        self._deliver(
            message["ns"],
            message["frames"],
            message["rooms"],
            message["except_rooms"],
            message["except_sids"],
        )

    def _already_seen(self, broadcast_id: str) -> bool:
        """A broadcast to several rooms arrives once per group; deliver it only once."""
        if broadcast_id in self._seen:
            return True
        self._seen[broadcast_id] = None
        if len(self._seen) > _SEEN_BROADCASTS:
            self._seen.popitem(last=False)
        return False

    async def send_to_sid(self, sid: str, frames: Frames) -> bool:
        """Deliver frames to one socket wherever it lives; True if it was local and live."""
        socket = self.sockets.get(sid)
        if socket is not None:
            socket.deliver(frames)
            return True
        owner = owner_of(sid)
        if self.layer is not None and owner is not None and owner != PROCESS_ID:
            message = {"type": "sio.direct", "sid": sid, "frames": frames}
            try:
                await self.layer.send(hub_channel(owner), message)
            except ChannelFull:
                logger.error("hub: channel of process %s is full; message dropped", owner)
        return False

    def sio_direct(self, message: dict[str, Any]) -> None:
        socket = self.sockets.get(message["sid"])
        if socket is not None:
            socket.deliver(message["frames"])

    async def count_remote(
        self,
        instances: list[str],
        namespace: str,
        rooms: list[str] | None,
        exclude_rooms: list[str],
        exclude_sids: list[str],
        timeout: float,
    ) -> int:
        """Ask other processes how many of their sockets a broadcast targets; sum the replies
        that arrive within `timeout` (a process that died answers nothing)."""
        others = [instance for instance in instances if instance != PROCESS_ID]
        if self.layer is None or not others:
            return 0
        reply_to = await self.layer.new_channel()
        query = {
            "type": "sio.count",
            "reply_to": reply_to,
            "ns": namespace,
            "rooms": rooms,
            "except_rooms": exclude_rooms,
            "except_sids": exclude_sids,
        }
        await asyncio.gather(
            *(self.layer.send(hub_channel(other), query) for other in others),
            return_exceptions=True,
        )
        total = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        for _ in others:
            try:
                reply = await asyncio.wait_for(
                    self.layer.receive(reply_to), max(deadline - loop.time(), 0.001)
                )
            except TimeoutError:
                break
            total += int(reply.get("n", 0))
        return total

    def sio_count(self, message: dict[str, Any]) -> None:
        targets = self.local_targets(
            message["ns"], message["rooms"], message["except_rooms"], message["except_sids"]
        )
        spawn(self.layer.send(message["reply_to"], {"type": "sio.count_reply", "n": len(targets)}))

    async def disconnect_sid(self, sid: str) -> None:
        """Disconnect one socket wherever it lives."""
        socket = self.sockets.get(sid)
        if socket is not None:
            await socket.disconnect()
            return
        owner = owner_of(sid)
        if self.layer is not None and owner is not None and owner != PROCESS_ID:
            await self.layer.send(hub_channel(owner), {"type": "sio.disconnect", "sid": sid})

    def sio_disconnect(self, message: dict[str, Any]) -> None:
        socket = self.sockets.get(message["sid"])
        if socket is not None:
            spawn(socket.disconnect())


def _done_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


class _GroupCapacityWatch(logging.Filter):
    """channels_redis reports a group_send that skipped full channels only as an INFO line:
    count those drops and raise the line to ERROR, so a full channel is never silent."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if "over capacity" in str(record.msg) and isinstance(args, tuple) and args:
            dropped = args[0]
            metrics.LAYER_DROPS.labels("group_send").inc(dropped if isinstance(dropped, int) else 1)
            record.levelno, record.levelname = logging.ERROR, "ERROR"
        return True


logging.getLogger("channels_redis.core").addFilter(_GroupCapacityWatch())

_hub: Hub | None = None


def get_hub() -> Hub:
    """The process's hub, created on first use."""
    global _hub
    if _hub is None:
        _hub = Hub()
    return _hub
