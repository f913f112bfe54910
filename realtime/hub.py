"""The process hub: local sockets and rooms, and this process's side of the channel layer.

Each process joins a room's channel-layer group once, for all of its sockets in that room, and
delivers a broadcast to them itself; the layer carries one message per process per broadcast
(or, for a batch of emits, one per process for the batch: `broadcast_many`).
A broadcast's frames are encoded once, by the emitter, and every receiving socket writes them
as they are. A counted broadcast (`broadcast_counted`, the REST emits) has every process it
reaches answer with its own count.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import OrderedDict, defaultdict
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import metrics
from .conf import realtime_settings
from .groups import group_name
from .ids import PROCESS_ID, owner_of
from .layerlink import LayerLink
from .outbox import Outbox
from .pipelined import Pairs
from .tasks import spawn

if TYPE_CHECKING:
    from .namespace import NamespaceConsumer

logger = logging.getLogger(__name__)

Frames = list[str | bytes]
RoomKey = tuple[str, str | None]  # (namespace, room); room None = the whole namespace
# one of many broadcasts sent together: its frames, its rooms (None: all) and excluded rooms
Broadcast = tuple[Frames, list[str] | None, list[str]]
BROADCASTS_PER_MESSAGE = 256  # `broadcast_many`: at most this many in one layer message
_SEEN_BROADCASTS = 32_768  # more than a layer outage sends again (layerlink.RESEND_S)


class Hub:
    """Everything this process knows about live sockets and where broadcasts go."""

    def __init__(self, process_id: str = PROCESS_ID) -> None:
        """`process_id` names this process on the layer (tests run several hubs in one)."""
        self.process_id = process_id
        self.sockets: dict[str, NamespaceConsumer] = {}
        self.rooms: dict[RoomKey, set[NamespaceConsumer]] = defaultdict(set)
        self._groups: dict[str, asyncio.Future[None]] = {}
        self._discards: dict[str, asyncio.TimerHandle] = {}
        self._seen: OrderedDict[tuple[str, int], None] = OrderedDict()
        # a broadcast's id: a number unique in this process (no random bytes per broadcast);
        # with its origin, unique across processes
        self._broadcast_ids = itertools.count()
        self._refresher: asyncio.Task[None] | None = None
        self.loop: asyncio.AbstractEventLoop | None = None  # the server's loop, once it runs
        self.engines: dict[str, Any] = {}  # mount path -> EngineServer, for forwarded requests
        self.link = LayerLink(groups=lambda: list(self._groups), process_id=process_id)
        # what goes to other processes, in order, without waiting for Redis (realtime.outbox)
        self.outbox = Outbox(self.link.group_send_many)
        for message_type in (
            "sio.broadcast",
            "sio.broadcasts",
            "sio.direct",
            "sio.count",
            "sio.disconnect",
        ):
            self.link.register(message_type, getattr(self, message_type.replace(".", "_")))

    def bind_loop(self) -> None:
        """Remember the server's event loop (sync code in other threads emits on it), and
        start listening on the layer: any process may be asked to serve its sessions."""
        if self.loop is None:
            self.loop = asyncio.get_running_loop()
            self._ensure_listening()
            metrics.sample_process(self.loop, lambda: len(self._groups))

    @property
    def layer(self) -> Any:
        """The channel layer, or None when this process is the only one (in-memory layer)."""
        return self.link.layer

    @property
    def channel(self) -> str:
        return self.link.channel

    def _ensure_listening(self) -> None:
        if self.layer is None or self._refresher is not None:
            return
        self.link.listen()
        self._refresher = spawn(self._refresh_groups())

    async def _refresh_groups(self) -> None:
        """Re-add this process to its groups before the layer's group expiry drops it."""
        while True:
            await asyncio.sleep(float(realtime_settings.GROUP_REFRESH_S))
            for group in list(self._groups):
                try:
                    await self.link.group_add(group)
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
            future = asyncio.ensure_future(self.link.group_add(group))
            self._groups[group] = future
        try:
            await asyncio.shield(future)
        except Exception as exc:
            # keep the group: the recovery rejoins it once the layer answers again
            self._groups[group] = _done_future()
            self.link.failed("group_add", exc)

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
            await self.link.group_discard(group)
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
        """Deliver ready frames to the rooms on every process; returns the local count. The
        other processes' part is queued in the outbox, in order (`broadcast_counted` waits
        for it, and for the count)."""
        exclude_rooms = exclude_rooms or []
        exclude_sids = exclude_sids or []
        delivered = self._deliver(namespace, frames, rooms, exclude_rooms, exclude_sids)
        if self.layer is None:
            return delivered
        message = self._broadcast_message(namespace, frames, rooms, exclude_rooms, exclude_sids)
        await self.outbox.post_group_sends(_to_groups(namespace, rooms, message))
        return delivered

    async def broadcast_counted(
        self,
        namespace: str,
        frames: Frames,
        rooms: list[str] | None,
        exclude_rooms: list[str],
        exclude_sids: list[str],
        timeout: float,
    ) -> tuple[int, int | None]:
        """Deliver like `broadcast`; returns how many sockets it reached here and on the other
        processes (None when the layer cannot tell: the core layer).

        Each process the broadcast reaches answers how many of its sockets took it, and on the
        pub/sub layer each PUBLISH answers how many processes it reached: this waits for
        exactly that many answers (at most `timeout`), with no list of live processes and no
        wait at all when no other process has the rooms. socket.io's Redis adapter counts its
        nodes for an acknowledged broadcast the same way (PUBSUB NUMSUB).
        """
        delivered = self._deliver(namespace, frames, rooms, exclude_rooms, exclude_sids)
        if self.layer is None:
            return delivered, 0
        message = self._broadcast_message(namespace, frames, rooms, exclude_rooms, exclude_sids)
        if not self.link.counts_receivers:  # the core layer: nobody is asked to answer it
            await self.outbox.post_group_sends(_to_groups(namespace, rooms, message), wait=True)
            return delivered, None
        await self.link.ready(timeout)  # its own channel hears the answers
        with self.link.replies_to() as replies:
            message.update(replies.address)
            pairs = _to_groups(namespace, rooms, message)
            receivers = await self.outbox.post_group_sends(pairs, wait=True)
            if receivers is None:  # held while the layer fails: delivered once it is back
                return delivered, 0
            expected = sum(receivers)
            if not await replies.wait(lambda: len(replies.received) >= expected, timeout):
                logger.warning(
                    "hub: %d of %d processes told their count within %.1fs",
                    len(replies.received),
                    expected,
                    timeout,
                )
        return delivered, sum(int(reply.get("n", 0)) for reply in replies.received)

    def _broadcast_message(
        self,
        namespace: str,
        frames: Frames,
        rooms: list[str] | None,
        exclude_rooms: list[str],
        exclude_sids: list[str],
    ) -> dict[str, Any]:
        return {
            "type": "sio.broadcast",
            "origin": self.process_id,
            "id": next(self._broadcast_ids),
            "ns": namespace,
            "rooms": rooms,
            "except_rooms": exclude_rooms,
            "except_sids": exclude_sids,
            "frames": frames,
        }

    async def broadcast_many(self, namespace: str, broadcasts: list[Broadcast]) -> None:
        """The other processes' part of many broadcasts on `namespace`, each delivered here
        already: one layer message to the namespace's group per `BROADCASTS_PER_MESSAGE`,
        in order, where `broadcast` sends one to each room's group.

        For a batch of chat messages (conversations.sending) that is two messages per batch
        instead of about forty per chat message (a `new_message` to each participant's room,
        a `counter` to each other one's, on two namespaces). Every process with a socket on
        the namespace hears them and picks its own sockets, as socket.io's Redis adapter
        has every node do for every broadcast.
        """
        if self.layer is None or not broadcasts:
            return
        group = group_name(namespace, None)
        pairs = [
            (
                group,
                {
                    "type": "sio.broadcasts",
                    "origin": self.process_id,
                    "id": next(self._broadcast_ids),
                    "ns": namespace,
                    "broadcasts": broadcasts[start : start + BROADCASTS_PER_MESSAGE],
                },
            )
            for start in range(0, len(broadcasts), BROADCASTS_PER_MESSAGE)
        ]
        await self.outbox.post_group_sends(pairs)

    def sio_broadcasts(self, message: dict[str, Any]) -> None:
        origin = message["origin"]
        if origin == self.process_id or self._already_seen((origin, message["id"])):
            return
        namespace = message["ns"]
        for frames, rooms, exclude_rooms in message["broadcasts"]:
            try:
                self._deliver(namespace, frames, rooms, exclude_rooms, [])
            except Exception:  # one broadcast's failure is not the others'
                logger.exception("hub: a broadcast of %s failed", namespace)

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
            metrics.count(metrics.DELIVERIES, namespace, n=len(targets))
        return len(targets)

    def sio_broadcast(self, message: dict[str, Any]) -> None:
        origin = message["origin"]
        if origin == self.process_id or self._already_seen((origin, message["id"])):
            delivered = 0  # delivered locally when it was emitted, or via another of its rooms
        else:
            delivered = self._deliver(
                message["ns"],
                message["frames"],
                message["rooms"],
                message["except_rooms"],
                message["except_sids"],
            )
        if "reply_to" in message:  # a counted broadcast: every process it reached answers
            self.link.reply(message, {"n": delivered})

    def _already_seen(self, broadcast_id: tuple[str, int]) -> bool:
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
        if self.layer is not None and owner is not None and owner != self.process_id:
            message = {"type": "sio.direct", "sid": sid, "frames": frames}
            await self.outbox.send(lambda: self.link.send_to_process(owner, message))
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
        that arrive within `timeout`. A process that died answers nothing: it is waited for
        once, then no more until it answers again (LayerLink.request_all)."""
        others = [instance for instance in instances if instance != self.process_id]
        if self.layer is None or not others:
            return 0
        query = {
            "type": "sio.count",
            "ns": namespace,
            "rooms": rooms,
            "except_rooms": exclude_rooms,
            "except_sids": exclude_sids,
        }
        replies = await self.link.request_all(others, query, timeout, skip_unanswering=True)
        return sum(int(reply.get("n", 0)) for reply in replies)

    def sio_count(self, message: dict[str, Any]) -> None:
        targets = self.local_targets(
            message["ns"], message["rooms"], message["except_rooms"], message["except_sids"]
        )
        self.link.reply(message, {"n": len(targets)})

    async def disconnect_sid(self, sid: str) -> None:
        """Disconnect one socket wherever it lives."""
        socket = self.sockets.get(sid)
        if socket is not None:
            await socket.disconnect()
            return
        owner = owner_of(sid)
        if self.layer is not None and owner is not None and owner != self.process_id:
            message = {"type": "sio.disconnect", "sid": sid}
            await self.outbox.send(lambda: self.link.send_to_process(owner, message))

    def sio_disconnect(self, message: dict[str, Any]) -> None:
        socket = self.sockets.get(message["sid"])
        if socket is not None:
            spawn(socket.disconnect())


def _to_groups(namespace: str, rooms: list[str] | None, message: dict[str, Any]) -> Pairs:
    """A broadcast's message to each layer group of `rooms` (None: the whole namespace)."""
    if rooms is None:
        return [(group_name(namespace, None), message)]
    return [(group_name(namespace, room), message) for room in rooms]


def _done_future() -> asyncio.Future[None]:
    future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    future.set_result(None)
    return future


_hub: Hub | None = None


def get_hub() -> Hub:
    """The process's hub, created on first use."""
    global _hub
    if _hub is None:
        _hub = Hub()
    return _hub
