"""The Socket.IO side of one Engine.IO session: packets in, namespaces multiplexed, packets out."""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

from ..conf import realtime_settings
from ..engineio.session import Session
from .packets import Packet, PacketType, SocketIOParseError, decode, encode_parts, reconstruct

if TYPE_CHECKING:
    from ..namespace import NamespaceConsumer
    from ..routing import NamespaceRouter

logger = logging.getLogger(__name__)


class SocketIOConnection:
    """Implements the Engine.IO session handler for Socket.IO v5.

    A protocol violation (a packet that does not parse, a binary frame nobody announced, a
    client sending CONNECT_ERROR) closes the whole connection; a refused or unknown namespace
    gets CONNECT_ERROR and the connection stays.
    """

    def __init__(self, session: Session, router: NamespaceRouter) -> None:
        self.session = session
        self.router = router
        self.sockets: dict[str, NamespaceConsumer] = {}
        self._partial: Packet | None = None  # a binary packet waiting for its attachments
        self._max_attachments = int(realtime_settings.MAX_ATTACHMENTS)
        self._max_namespaces = int(realtime_settings.MAX_NAMESPACES_PER_CONNECTION)
        self._connect_timer: asyncio.TimerHandle | None = asyncio.get_running_loop().call_later(
            int(realtime_settings.CONNECT_TIMEOUT_MS) / 1000, self._on_connect_timeout
        )

    # ----- Engine.IO handler ---------------------------------------------------------

    def on_message(self, data: str | bytes) -> None:
        try:
            packet = self._assemble(data)
        except SocketIOParseError as exc:
            logger.debug("session %s: %s; closing", self.session.sid, exc)
            self.session.close("parse error", notify_client=False)
            return
        if packet is not None:
            self._dispatch(packet)

    def on_close(self, reason: str) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None
        for socket in list(self.sockets.values()):
            socket.transport_closed(reason)
        self.sockets.clear()
        self._partial = None

    # ----- incoming ------------------------------------------------------------------

    def _assemble(self, data: str | bytes) -> Packet | None:
        """Decode a text packet, or add a binary frame to the packet awaiting it."""
        if isinstance(data, bytes):
            partial = self._partial
            if partial is None:
                raise SocketIOParseError("unexpected binary frame")
            partial.binary.append(data)
            if len(partial.binary) < partial.attachments:
                return None
            self._partial = None
            partial.data = reconstruct(partial.data, partial.binary)
            return partial
        if self._partial is not None:
            raise SocketIOParseError("text frame while binary attachments were due")
        packet = decode(data, max_attachments=self._max_attachments)
        if packet.attachments:
            self._partial = packet
            return None
        return packet

    def _dispatch(self, packet: Packet) -> None:
        kind = packet.type
        if kind is PacketType.CONNECT:
            self._connect(packet.namespace, packet.data or {})
            return
        if kind is PacketType.CONNECT_ERROR:
            self.session.close("parse error", notify_client=False)
            return
        socket = self.sockets.get(packet.namespace)
        if socket is None:
            return  # a namespace this client is not connected to: ignored, like the reference
        if kind is PacketType.DISCONNECT:
            socket.client_disconnected()
        elif kind in (PacketType.EVENT, PacketType.BINARY_EVENT):
            socket.receive_event(packet.data, packet.id)
        else:  # ACK, BINARY_ACK
            assert packet.id is not None  # the codec refuses an ACK without an id
            socket.receive_ack(packet.id, packet.data)

    def _connect(self, namespace: str, auth: dict[str, Any]) -> None:
        if namespace in self.sockets:
            logger.debug("session %s: repeated CONNECT to %s ignored", self.session.sid, namespace)
            return
        if len(self.sockets) >= self._max_namespaces:
            payload = {"message": "TOO_MANY_NAMESPACES", "data": {"errno": 429}}
            self.send_packet(Packet(PacketType.CONNECT_ERROR, namespace, payload))
            return
        resolved = self.router.resolve(namespace)
        if resolved is None:
            self.send_packet(
                Packet(PacketType.CONNECT_ERROR, namespace, {"message": "Invalid namespace"})
            )
            return
        socket = resolved.consumer(self, namespace, dict(resolved.kwargs))  # the socket's own
        self.sockets[namespace] = socket
        socket.start(auth)

    def _on_connect_timeout(self) -> None:
        self._connect_timer = None
        if not any(socket.connected for socket in self.sockets.values()):
            self.session.close("connect timeout", notify_client=True)

    # ----- called by sockets ---------------------------------------------------------

    def namespace_connected(self) -> None:
        if self._connect_timer is not None:
            self._connect_timer.cancel()
            self._connect_timer = None

    def forget_socket(self, socket: NamespaceConsumer) -> None:
        if self.sockets.get(socket.namespace) is socket:
            del self.sockets[socket.namespace]

    def send_packet(self, packet: Packet) -> None:
        text, binary = encode_parts(packet)
        self.session.send("4" + text)
        for attachment in binary:
            self.session.send(attachment)
