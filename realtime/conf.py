"""The adapter's settings: `settings.REALTIME` over embedded defaults, read lazily."""

from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

DEFAULTS: dict[str, Any] = {
    "PING_INTERVAL_MS": 25_000,
    "PING_TIMEOUT_MS": 20_000,
    "MAX_PAYLOAD": 1_000_000,
    "CONNECT_TIMEOUT_MS": 45_000,
    "UPGRADE_TIMEOUT_MS": 10_000,
    "CORS_ALLOWED_ORIGINS": ["*"],
    # outgoing packets a session may hold for a client that does not read; past either
    # bound the client is dropped instead of letting memory grow
    "MAX_BUFFERED_PACKETS": 2_000,
    "MAX_BUFFERED_BYTES": 2_000_000,
    # binary attachments a single Socket.IO packet may announce
    "MAX_ATTACHMENTS": 64,
    "ACK_TIMEOUT_S": 10.0,
    # seconds a process waits before leaving a channel-layer group its last socket left
    "GROUP_DISCARD_DELAY_S": 2.0,
    # seconds between refreshes of this process's group memberships (below group_expiry)
    "GROUP_REFRESH_S": 3_600.0,
    # layer operations (joins, leaves, sends) in flight at once per process: a connect storm
    # queues behind this instead of exhausting the Redis connection pool
    "LAYER_CONCURRENCY": 64,
    "MOUNTS": {"/socket.io/": "config.namespaces.router"},
    # the socket registry and presence (realtime.presence); off where no database is wanted
    "REGISTRY": True,
    "REGISTRY_FLUSH_S": 0.05,
    "PRESENCE_GRACE_S": 5.0,
    "PRESENCE_TTL_S": 60.0,
    # SIGTERM: sockets are told and disconnected, presence withdrawn, exit within this
    "SHUTDOWN_TIMEOUT_S": 10.0,
    "SHUTDOWN_DRAIN_S": 0.0,
    # seconds a thread may hold the GIL while another waits (realtime.switchinterval);
    # None: the interval measured best for the database (0.5 ms on a server, 5 ms on SQLite)
    "SWITCH_INTERVAL_S": None,
    # limits against hostile clients (realtime.throttling, realtime.limits); "" = no limit
    "THROTTLE_SOCKET_RATE": "100/s",
    "THROTTLE_USER_RATE": "300/s",
    "THROTTLE_DISCONNECT_AFTER": 200,  # throttled events within 10 s before a disconnect
    "MAX_CONNECTIONS_PER_IP": 1_000,  # Engine.IO sessions per client address, per process
    "MAX_SOCKETS_PER_USER": 100,  # sockets per user (all namespaces), per process
    "MAX_NAMESPACES_PER_CONNECTION": 32,
    "MAX_ROOMS_PER_SOCKET": 1_000,
    # peers whose X-Forwarded-For / X-Forwarded-Proto are believed (realtime.proxy)
    "TRUSTED_PROXIES": ["127.0.0.1", "::1"],
    # socket authentication: HMAC secret, accepted algorithms, clock leeway, optional claims
    "JWT_SECRET": "",
    # old secrets still accepted (never used to sign) while tokens move to JWT_SECRET
    "JWT_SECRET_PREVIOUS": [],
    "JWT_ALGORITHMS": ["HS256"],
    "JWT_LEEWAY_S": 5.0,
    "JWT_AUDIENCE": None,
    "JWT_ISSUER": None,
    # a longer token is refused before it is parsed
    "JWT_MAX_LENGTH": 8_192,
    # push (realtime.push): "firebase" | "log" | "memory"; "" = firebase with FCM_CREDENTIALS
    "PUSH_BACKEND": "",
    # path to a Firebase service-account JSON
    "FCM_CREDENTIALS": "",
    # tests only: where FCM requests go instead of https://fcm.googleapis.com
    "FCM_API_BASE": "",
    # users pushed to at once per process, and the HTTP timeout of one FCM call
    "PUSH_CONCURRENCY": 8,
    "PUSH_TIMEOUT_S": 10.0,
}


class RealtimeSettings:
    """Attribute access to `REALTIME[...]` with defaults.

    The values are read once, into the instance's attributes, and kept until `REALTIME`
    changes (Django's `setting_changed`, which `override_settings` and pytest-django's
    `settings` send). A socket's connect reads about twenty of them; each read went through
    Django's lazy settings object, ~3 % of a connect storm's CPU.
    """

    def __getattr__(self, name: str) -> Any:
        """Called only for a setting not read yet (or forgotten): read them all."""
        if name not in DEFAULTS:
            raise AttributeError(f"unknown realtime setting {name!r}")
        configured = getattr(settings, "REALTIME", {})
        self.__dict__.update({key: configured.get(key, DEFAULTS[key]) for key in DEFAULTS})
        return self.__dict__[name]

    def forget(self) -> None:
        """Read the settings again at the next access."""
        self.__dict__.clear()


realtime_settings = RealtimeSettings()


@receiver(setting_changed)
def _forget_realtime_settings(setting: str, **kwargs: Any) -> None:
    if setting == "REALTIME":
        realtime_settings.forget()
