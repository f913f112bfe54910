"""The socket registry of this process: batched writes off the hot path, heartbeat, sweeper.

Connects and disconnects are queued in memory and written in one transaction per batch; a
socket that comes and goes within a batch costs nothing. A heartbeat keeps this instance's
sockets alive in bulk, and every instance sweeps the sockets of instances that died without a
word, so presence never stays online past PRESENCE_TTL_S.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import os
import socket as socket_module
from typing import TYPE_CHECKING

from channels.db import database_sync_to_async
from django.utils import timezone

from ..conf import realtime_settings
from ..ids import PROCESS_ID
from ..tasks import spawn
from . import services
from .instances import layer_fingerprint
from .services import PresenceChange, SocketRow
from .signals import presence_changed

if TYPE_CHECKING:
    from ..namespace import NamespaceConsumer

logger = logging.getLogger(__name__)


def socket_row(socket: NamespaceConsumer) -> SocketRow:
    """What the registry keeps of a connected socket."""
    scope = socket.scope
    client = scope.get("client") or ("", 0)
    headers = dict(scope.get("headers", ()))
    identity = socket.identity
    return SocketRow(
        sid=socket.sid,
        namespace=socket.namespace,
        uid=identity.uid if identity is not None else None,
        account_id=identity.account_id if identity is not None else None,
        transport=socket.connection.session.transport.value,
        remote_addr=str(client[0] or ""),
        user_agent=headers.get(b"user-agent", b"").decode("latin-1"),
        connected_at=timezone.now(),
    )


class SocketRegistry:
    def __init__(self) -> None:
        self.started_at = timezone.now()
        self._added: dict[str, SocketRow] = {}
        self._removed: set[str] = set()
        self._flusher: asyncio.Task[None] | None = None
        self._heartbeat: asyncio.Task[None] | None = None

    @property
    def enabled(self) -> bool:
        return bool(realtime_settings.REGISTRY)

    def socket_connected(self, socket: NamespaceConsumer) -> None:
        if not self.enabled:
            return
        self._added[socket.sid] = socket_row(socket)
        self._kick()

    def socket_disconnected(self, sid: str) -> None:
        if not self.enabled:
            return
        if self._added.pop(sid, None) is None:
            self._removed.add(sid)
            self._kick()

    def _kick(self) -> None:
        if self._flusher is None or self._flusher.done():
            self._flusher = spawn(self._flush_loop())
        if self._heartbeat is None or self._heartbeat.done():
            self._heartbeat = spawn(self._heartbeat_loop())

    async def flush(self) -> None:
        """Write what is queued now (tests and shutdown call this directly)."""
        added, self._added = list(self._added.values()), {}
        removed, self._removed = list(self._removed), set()
        if not added and not removed:
            return
        try:
            changes, emptied = await database_sync_to_async(services.registry_apply_batch)(
                instance_id=PROCESS_ID, added=added, removed=removed, now=timezone.now()
            )
        except Exception:
            logger.exception("registry: batch of %d/%d failed", len(added), len(removed))
            return
        await publish(changes)
        for uid in emptied:
            spawn(self._expire_after_grace(uid))

    async def _flush_loop(self) -> None:
        while self._added or self._removed:
            await asyncio.sleep(float(realtime_settings.REGISTRY_FLUSH_S))
            await self.flush()

    async def _expire_after_grace(self, uid: str) -> None:
        await asyncio.sleep(float(realtime_settings.PRESENCE_GRACE_S))
        change = await database_sync_to_async(services.presence_expire_if_offline)(
            uid=uid, now=timezone.now()
        )
        await publish([change] if change else [])

    async def _heartbeat_loop(self) -> None:
        ttl = float(realtime_settings.PRESENCE_TTL_S)
        while True:
            try:
                await self.beat()
            except Exception:
                logger.exception("registry: heartbeat failed")
            await asyncio.sleep(ttl / 4)

    async def beat(self) -> None:
        """One heartbeat of this instance, then one sweep of dead ones."""
        now = timezone.now()
        await database_sync_to_async(services.instance_heartbeat)(
            instance_id=PROCESS_ID,
            hostname=socket_module.gethostname(),
            pid=os.getpid(),
            started_at=self.started_at,
            now=now,
            layer=layer_fingerprint(),
        )
        # dead after three missed heartbeats: the sweeps (every TTL/4) then catch it within
        # the TTL of its last heartbeat, so its users never stay online past PRESENCE_TTL_S
        changes = await database_sync_to_async(services.instance_sweep)(
            now=now,
            ttl=dt.timedelta(seconds=float(realtime_settings.PRESENCE_TTL_S) * 3 / 4),
            grace=dt.timedelta(seconds=float(realtime_settings.PRESENCE_GRACE_S)),
        )
        await publish(changes)


async def publish(changes: list[PresenceChange]) -> None:
    """Tell the feature apps (through `presence_changed`) about each real change."""
    for change in changes:
        results = await presence_changed.asend_robust(
            sender=SocketRegistry,
            uid=change.uid,
            account_id=change.account_id,
            status=change.status,
        )
        for receiver, result in results:
            if isinstance(result, Exception):
                logger.error("presence_changed receiver %r failed", receiver, exc_info=result)


_registry: SocketRegistry | None = None


def get_registry() -> SocketRegistry:
    global _registry
    if _registry is None:
        _registry = SocketRegistry()
    return _registry
