"""Writes to the socket registry and presence: batches, heartbeats, sweeps (sync ORM code)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import IntegrityError, transaction

from .models import LiveSocket, PresenceStatus, ServerInstance, UserPresence

ONLINE = (PresenceStatus.ACTIVE, PresenceStatus.AWAY)


@dataclass(frozen=True, slots=True)
class SocketRow:
    """What the registry records of a socket when it connects."""

    sid: str
    namespace: str
    uid: str | None
    account_id: str | None
    transport: str
    remote_addr: str
    user_agent: str
    connected_at: dt.datetime


@dataclass(frozen=True, slots=True)
class PresenceChange:
    uid: str
    account_id: str | None
    status: str


def registry_apply_batch(
    *, instance_id: str, added: list[SocketRow], removed: list[str], now: dt.datetime
) -> tuple[list[PresenceChange], list[str]]:
    """Record connected sockets and drop gone ones in one transaction.

    Returns the presence changes (users who came online) and the users left with no socket
    anywhere, whose going offline waits for the grace period.
    """
    with transaction.atomic():
        LiveSocket.objects.bulk_create(
            [_live_socket(row, instance_id, now) for row in added], ignore_conflicts=True
        )
        left = set(
            LiveSocket.objects.filter(sid__in=removed, uid__isnull=False).values_list(
                "uid", flat=True
            )
        )
        LiveSocket.objects.filter(sid__in=removed).delete()
        UserPresence.objects.filter(uid__in=left).update(last_seen=now)
        changes = [
            change
            for uid, account_id in {(r.uid, r.account_id) for r in added if r.uid}
            if (change := presence_activate(uid=uid, account_id=account_id, now=now))
        ]
        still_online = set(
            LiveSocket.objects.filter(uid__in=left).values_list("uid", flat=True).distinct()
        )
    return changes, sorted(uid for uid in left - still_online if uid)


def _live_socket(row: SocketRow, instance_id: str, now: dt.datetime) -> LiveSocket:
    return LiveSocket(
        sid=row.sid,
        namespace=row.namespace,
        uid=row.uid,
        account_id=row.account_id,
        instance_id=instance_id,
        transport=row.transport,
        remote_addr=row.remote_addr[:64],
        user_agent=row.user_agent[:300],
        connected_at=row.connected_at,
        last_seen=now,
    )


def presence_activate(
    *, uid: str, account_id: str | None, now: dt.datetime
) -> PresenceChange | None:
    """Mark a user online; a change only if they were offline (or never seen)."""
    updated = UserPresence.objects.filter(uid=uid, status=PresenceStatus.INACTIVE).update(
        status=PresenceStatus.ACTIVE, account_id=account_id, changed_at=now, last_seen=now
    )
    if updated:
        return PresenceChange(uid, account_id, PresenceStatus.ACTIVE)
    try:
        with transaction.atomic():
            UserPresence.objects.create(
                uid=uid,
                account_id=account_id,
                status=PresenceStatus.ACTIVE,
                changed_at=now,
                last_seen=now,
            )
    except IntegrityError:  # already online
        UserPresence.objects.filter(uid=uid).update(last_seen=now)
        return None
    return PresenceChange(uid, account_id, PresenceStatus.ACTIVE)


def presence_expire_if_offline(*, uid: str, now: dt.datetime) -> PresenceChange | None:
    """After the grace period: offline if no socket of the user lives on any instance."""
    if LiveSocket.objects.filter(uid=uid).exists():
        return None
    return _set_inactive(uid, now)


def _set_inactive(uid: str, now: dt.datetime) -> PresenceChange | None:
    updated = UserPresence.objects.filter(uid=uid, status__in=ONLINE).update(
        status=PresenceStatus.INACTIVE, changed_at=now, last_seen=now
    )
    if not updated:
        return None
    account_id = UserPresence.objects.filter(uid=uid).values_list("account_id", flat=True).first()
    return PresenceChange(uid, account_id, PresenceStatus.INACTIVE)


def presence_set_status(
    *, uid: str, account_id: str | None, status: str, now: dt.datetime
) -> PresenceChange | None:
    """A user's own choice (`active_status`): a change only when the status differs."""
    updated = (
        UserPresence.objects.filter(uid=uid)
        .exclude(status=status)
        .update(status=status, account_id=account_id, changed_at=now, last_seen=now)
    )
    if updated:
        return PresenceChange(uid, account_id, status)
    if UserPresence.objects.filter(uid=uid).exists():
        return None
    UserPresence.objects.create(
        uid=uid, account_id=account_id, status=status, changed_at=now, last_seen=now
    )
    return PresenceChange(uid, account_id, status)


def instance_heartbeat(
    *,
    instance_id: str,
    hostname: str,
    pid: int,
    started_at: dt.datetime,
    now: dt.datetime,
    layer: str,
) -> None:
    """Keep this instance and all of its sockets alive, in two statements."""
    ServerInstance.objects.update_or_create(
        id=instance_id,
        defaults={
            "hostname": hostname,
            "pid": pid,
            "started_at": started_at,
            "last_seen": now,
            "layer": layer,
        },
    )
    LiveSocket.objects.filter(instance_id=instance_id).update(last_seen=now)


def instance_sweep(
    *, now: dt.datetime, ttl: dt.timedelta, grace: dt.timedelta
) -> list[PresenceChange]:
    """Drop instances (and their sockets) that stopped heartbeating; expire lost presence."""
    with transaction.atomic():
        dead = list(
            ServerInstance.objects.filter(last_seen__lt=now - ttl).values_list("id", flat=True)
        )
        LiveSocket.objects.filter(instance_id__in=dead).delete()
        LiveSocket.objects.filter(last_seen__lt=now - ttl).delete()
        ServerInstance.objects.filter(id__in=dead).delete()
    return _expire_orphans(now=now, grace=grace)


def instance_withdraw(*, instance_id: str, now: dt.datetime) -> list[str]:
    """A stopping instance removes itself; returns the users it leaves with no socket."""
    with transaction.atomic():
        uids = set(
            LiveSocket.objects.filter(instance_id=instance_id, uid__isnull=False).values_list(
                "uid", flat=True
            )
        )
        LiveSocket.objects.filter(instance_id=instance_id).delete()
        ServerInstance.objects.filter(id=instance_id).delete()
        UserPresence.objects.filter(uid__in=uids).update(last_seen=now)
        online = set(LiveSocket.objects.filter(uid__in=uids).values_list("uid", flat=True))
    return sorted(uid for uid in uids - online if uid)


def _expire_orphans(*, now: dt.datetime, grace: dt.timedelta) -> list[PresenceChange]:
    """Users shown online with no socket anywhere for longer than the grace period."""
    orphans = (
        UserPresence.objects.filter(status__in=ONLINE, last_seen__lt=now - grace)
        .exclude(uid__in=LiveSocket.objects.filter(uid__isnull=False).values("uid"))
        .values_list("uid", flat=True)
    )
    return [change for uid in list(orphans) if (change := _set_inactive(uid, now))]


def presence_touch(*, uids: Iterable[str], now: dt.datetime) -> None:
    UserPresence.objects.filter(uid__in=list(uids)).update(last_seen=now)
