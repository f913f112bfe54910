"""NamespaceConsumer: the base class feature apps subclass, one instance per socket.

A subclass overrides small hooks and writes `async def on_<event>(self, *args)` handlers; the
value a handler returns is the ack (a tuple for several ack arguments). The fixed plumbing
(ordering, acks, rooms, binary, disconnects) lives here and in the connection.

    class ChatConsumer(NamespaceConsumer):
        async def on_connect(self, auth):
            await self.join("lobby")

        async def on_message(self, data):
            await self.emit("message", data, to="lobby", include_self=False)
            return {"ok": True}
"""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterable
from enum import Enum
from typing import TYPE_CHECKING, Any, ClassVar

from . import limits, metrics
from .conf import realtime_settings
from .envelope import AckError
from .hub import get_hub
from .ids import new_sid
from .logcontext import bind_socket
from .permissions import authorize
from .presence.registry import get_registry
from .socketio.packets import RESERVED_EVENTS, Packet, PacketType, encode_parts
from .throttling import AbuseCounter, BaseThrottle, SocketRateThrottle, UserRateThrottle

if TYPE_CHECKING:
    from .identity import Identity
    from .permissions import BasePermission
    from .socketio.connection import SocketIOConnection

logger = logging.getLogger(__name__)

NO_ACK = object()
"""Returned by a hook to send no ack at all (the client's callback then times out)."""

_HOOKS = frozenset({"on_connect", "on_disconnect", "on_event"})
_NON_IDENTIFIER = re.compile(r"\W")
MAX_INBOX = 1_000


def handler_name(event: str) -> str:
    """The method that handles `event`: `message-with-ack` -> `on_message_with_ack`."""
    return "on_" + _NON_IDENTIFIER.sub("_", event)


class ConnectionRefused(Exception):
    """Raise from `on_connect` to refuse: the client gets CONNECT_ERROR {message, data}."""

    def __init__(self, message: str = "Connection refused", data: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.data = data

    def payload(self) -> dict[str, Any]:
        payload: dict[str, Any] = {"message": self.message}
        if self.data is not None:
            payload["data"] = self.data
        return payload


class AckTimeout(TimeoutError):
    """The client did not acknowledge a server emit in time."""


class SocketState(Enum):
    CONNECTING = "connecting"
    CONNECTED = "connected"
    DISCONNECTED = "disconnected"


def frames_for(packet: Packet) -> list[str | bytes]:
    """A Socket.IO packet as ready Engine.IO frames (text with the MESSAGE prefix, binaries)."""
    text, binary = encode_parts(packet)
    return ["4" + text, *binary]


def ack_args(result: Any) -> list[Any]:
    if result is None:
        return []
    if isinstance(result, tuple):
        return list(result)
    return [result]


class NamespaceConsumer:
    """One client socket on one namespace."""

    handlers: ClassVar[dict[str, str]] = {}
    # who may connect (realtime.permissions); none: anyone, and no token is even looked at
    permission_classes: ClassVar[list[type[BasePermission] | BasePermission]] = []
    identity: Identity | None = None  # set by authentication; None for anonymous sockets
    # rate limits on client events, asked before each event is queued (realtime.throttling)
    throttle_classes: ClassVar[list[type[BaseThrottle]]] = [SocketRateThrottle, UserRateThrottle]
    _expiry_timer: asyncio.TimerHandle | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls.handlers = {
            name: name
            for klass in reversed(cls.__mro__)
            for name in vars(klass)
            if name.startswith("on_") and name not in _HOOKS
        }

    def __init__(
        self, connection: SocketIOConnection, namespace: str, namespace_kwargs: dict[str, Any]
    ) -> None:
        self.connection = connection
        self.session = connection.session  # the Engine.IO session, for the hot `deliver`
        self.namespace = namespace
        self.namespace_kwargs = namespace_kwargs
        self.sid = new_sid()
        self.scope: dict[str, Any] = connection.session.scope
        self.state = SocketState.CONNECTING
        self.rooms: set[str] = set()
        self._held: list[str | bytes] = []
        # a list, not a deque: it is short, and an idle socket's empty deque costs 0.7 KiB
        self._inbox: list[Callable[[], Awaitable[None]]] = []
        self._runner: asyncio.Task[None] | None = None
        self._acks: dict[int, asyncio.Future[list[Any]]] = {}
        self._next_ack_id = 0

    # made on the socket's first event: many sockets never send one, and connects are hot
    @functools.cached_property
    def throttles(self) -> list[BaseThrottle]:
        return [throttle() for throttle in self.throttle_classes]

    @functools.cached_property
    def abuse(self) -> AbuseCounter:
        return AbuseCounter()

    # ----- hooks a subclass overrides --------------------------------------------------

    async def on_connect(self, auth: dict[str, Any]) -> None:
        """Accept by returning; refuse by raising ConnectionRefused."""

    async def on_disconnect(self, reason: str) -> None:
        """The socket is gone; `reason` uses Socket.IO's names (`transport close`, ...)."""

    async def on_event(self, event: str, *args: Any) -> Any:
        """An event with no `on_<event>` handler. The default ignores it and sends no ack."""
        logger.debug("%s: no handler for event %r", self.namespace, event)
        return NO_ACK

    def on_throttled(self, event: str) -> Any:
        """An event over the rate limit was dropped; the return value is its ack."""
        return NO_ACK

    async def handle_exception(self, event: str, exc: Exception) -> Any:
        """A handler raised; the return value is the ack. The default logs, sends no ack."""
        logger.exception("%s: handler for %r failed", self.namespace, event, exc_info=exc)
        return NO_ACK

    # ----- what a handler calls ------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self.state is SocketState.CONNECTED

    async def emit(
        self,
        event: str,
        *args: Any,
        to: str | Iterable[str] | None = None,
        exclude: Iterable[str] = (),
        include_self: bool = True,
    ) -> None:
        """Emit to this socket, or with `to` to rooms of this namespace on every process."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved Socket.IO event name")
        frames = frames_for(Packet(PacketType.EVENT, self.namespace, [event, *args]))
        metrics.count(metrics.EVENTS_OUT, self.namespace, event)
        if to is None:
            self.deliver(frames)
            return
        rooms = [to] if isinstance(to, str) else list(to)
        exclude_sids = [] if include_self else [self.sid]
        await get_hub().broadcast(self.namespace, frames, rooms, list(exclude), exclude_sids)

    async def call(self, event: str, *args: Any, timeout: float | None = None) -> list[Any]:
        """Emit to this socket and wait for the client's ack; returns its arguments."""
        if event in RESERVED_EVENTS:
            raise ValueError(f"{event!r} is a reserved Socket.IO event name")
        if not self.connected:
            raise ConnectionError("socket is not connected")
        ack_id = self._next_ack_id
        self._next_ack_id += 1
        future: asyncio.Future[list[Any]] = asyncio.get_running_loop().create_future()
        self._acks[ack_id] = future
        self.deliver(frames_for(Packet(PacketType.EVENT, self.namespace, [event, *args], ack_id)))
        try:
            return await asyncio.wait_for(future, timeout or realtime_settings.ACK_TIMEOUT_S)
        except TimeoutError:
            raise AckTimeout(f"no ack for {event!r}") from None
        finally:
            self._acks.pop(ack_id, None)

    async def join(self, room: str) -> None:
        """Join a room on every process; TooManyRooms past MAX_ROOMS_PER_SOCKET."""
        if room not in self.rooms and self.state is not SocketState.DISCONNECTED:
            limits.check_room_quota(self)
            self.rooms.add(room)
            await get_hub().join(self, room)

    async def leave(self, room: str) -> None:
        if room in self.rooms:
            self.rooms.discard(room)
            await get_hub().leave(self, room)

    async def disconnect(self) -> None:
        """Disconnect this socket from the namespace (the connection stays)."""
        if self.state is SocketState.DISCONNECTED:
            return
        if self.state is SocketState.CONNECTED:
            self.connection.send_packet(Packet(PacketType.DISCONNECT, self.namespace))
        self._closed("server namespace disconnect")

    def deliver(self, frames: list[str | bytes]) -> None:
        """Write ready frames to the client (held back until the CONNECT ack is out)."""
        if self.state is SocketState.CONNECTED:
            send = self.session.send
            for frame in frames:
                send(frame)
        elif self.state is SocketState.CONNECTING:
            self._held.extend(frames)

    # ----- plumbing: called by the connection ----------------------------------------

    def start(self, auth: dict[str, Any]) -> None:
        get_hub().add_socket(self)
        self._enqueue(lambda: self._connect(auth))

    async def _connect(self, auth: dict[str, Any]) -> None:
        try:
            await authorize(self, auth)
            await get_hub().join(self, None)
            for room in self.identity.rooms if self.identity is not None else ():
                await self.join(room)  # user:{uid} and account:{id}, or visitor:{id} (§4)
            await self.on_connect(auth)
        except ConnectionRefused as refusal:
            self._refuse(refusal.payload())
            return
        except AckError as error:  # authentication, permissions or on_connect said no
            self._refuse({"message": error.code, "data": {"errno": error.errno}})
            return
        except Exception:
            logger.exception("%s: on_connect failed", self.namespace)
            self._refuse({"message": "Internal server error"})
            return
        if self.state is not SocketState.CONNECTING:
            return  # the transport closed meanwhile
        try:
            limits.claim_user_socket(self)
        except AckError as error:
            self._refuse({"message": error.code, "data": {"errno": error.errno}})
            return
        self.state = SocketState.CONNECTED
        metrics.child(metrics.CONNECTS, self.namespace).inc()
        metrics.child(metrics.SOCKETS, self.namespace).inc()
        self.connection.send_packet(Packet(PacketType.CONNECT, self.namespace, {"sid": self.sid}))
        self.connection.namespace_connected()
        held, self._held = self._held, []
        self.connection.session.send_many(held)
        self._watch_token_expiry()
        get_registry().socket_connected(self)

    def _watch_token_expiry(self) -> None:
        expires_at = self.identity.expires_at if self.identity is not None else None
        if expires_at is not None:
            delay = max(0.0, expires_at - time.time())
            loop = asyncio.get_running_loop()
            self._expiry_timer = loop.call_later(delay, self._enqueue, self._token_expired)

    async def _token_expired(self) -> None:
        """The token ran out: tell the client, then leave the namespace (it may reconnect)."""
        if self.connected:
            await self.emit("token_expired", {"message": "TOKEN_EXPIRED", "data": {"errno": 401}})
            await self.disconnect()

    def _refuse(self, payload: dict[str, Any]) -> None:
        metrics.REFUSALS.labels(self.namespace, str(payload.get("message", ""))[:40]).inc()
        if self.state is SocketState.CONNECTING:
            self.connection.send_packet(Packet(PacketType.CONNECT_ERROR, self.namespace, payload))
        self._forget()
        self.state = SocketState.DISCONNECTED

    def receive_event(self, data: list[Any], ack_id: int | None) -> None:
        event = str(data[0])
        admitted = limits.admit_event(self)
        if admitted:
            self._enqueue(lambda: self._handle_event(event, data[1:], ack_id))
        elif admitted is None:  # persistent abuse
            self.connection.session.close("transport error", notify_client=False)
        elif ack_id is not None:
            self._send_ack(ack_id, self.on_throttled(event))

    async def _handle_event(self, event: str, args: list[Any], ack_id: int | None) -> None:
        """Run one client event. An event that arrived before the socket went away still runs
        (what it stores is kept, as when the reference server dispatches on arrival); only
        its ack has nowhere to go."""
        method = self.handlers.get(handler_name(event))
        handled = method[3:] if method else "unhandled"
        metrics.count(metrics.EVENTS_IN, self.namespace, handled)
        try:
            if method is None:
                result = await self.on_event(event, *args)
            else:
                result = await getattr(self, method)(*args)
        except Exception as exc:
            result = await self.handle_exception(event, exc)
        if ack_id is not None:
            self._send_ack(ack_id, result)

    def _send_ack(self, ack_id: int, result: Any) -> None:
        if result is not NO_ACK and self.connected:
            self.connection.send_packet(
                Packet(PacketType.ACK, self.namespace, ack_args(result), ack_id)
            )

    def receive_ack(self, ack_id: int, args: list[Any]) -> None:
        future = self._acks.get(ack_id)
        if future is not None and not future.done():
            future.set_result(args)

    def client_disconnected(self) -> None:
        self._closed("client namespace disconnect")

    def transport_closed(self, reason: str) -> None:
        self._closed(reason)

    def _closed(self, reason: str) -> None:
        """Leave every room at once; run the events already received, then `on_disconnect`."""
        if self.state is SocketState.DISCONNECTED:
            return
        was_connected = self.state is SocketState.CONNECTED
        self.state = SocketState.DISCONNECTED
        if self._expiry_timer is not None:
            self._expiry_timer.cancel()
        self._forget()
        for future in self._acks.values():
            if not future.done():
                future.set_exception(ConnectionError("socket disconnected"))
        if was_connected:
            metrics.child(metrics.SOCKETS, self.namespace).dec()
            limits.release_user_socket(self)
            metrics.child(metrics.DISCONNECTS, self.namespace, reason).inc()
            get_registry().socket_disconnected(self.sid)
            self._enqueue(lambda: self._run_disconnect(reason), always=True)

    async def _run_disconnect(self, reason: str) -> None:
        try:
            await self.on_disconnect(reason)
        except Exception:
            logger.exception("%s: on_disconnect failed", self.namespace)

    def _forget(self) -> None:
        get_hub().remove_socket(self)
        self.connection.forget_socket(self)

    def _enqueue(self, job: Callable[[], Awaitable[None]], *, always: bool = False) -> None:
        """Run jobs one at a time, in arrival order, on a task that lives while there is work.

        A client that lets MAX_INBOX events pile up is disconnected; `always` jobs (the
        disconnect hook) are queued regardless."""
        if len(self._inbox) >= MAX_INBOX and not always:
            logger.warning(
                "%s: socket %s floods events; disconnecting",
                self.namespace,
                self.sid,
                extra=limits.log_tags(self),
            )
            self.connection.session.close("transport error", notify_client=False)
            return
        self._inbox.append(job)
        if self._runner is None or self._runner.done():
            self._runner = asyncio.get_running_loop().create_task(self._run_inbox())

    async def _run_inbox(self) -> None:
        uid = self.identity.uid if self.identity is not None else None
        bind_socket(self.sid, self.namespace, uid)  # this task's log lines name the socket
        while self._inbox:
            job = self._inbox.pop(0)
            try:
                await job()
            except Exception:
                logger.exception("%s: socket %s job failed", self.namespace, self.sid)
        self._runner = None  # a finished task (and its frames) is not kept per idle socket
