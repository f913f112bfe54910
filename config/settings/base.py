"""Settings for every deployment, all read from the environment with embedded defaults."""

from pathlib import Path
from typing import Any

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_float, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

DEBUG = env_bool("DEBUG", False)
# only signs admin sessions here; set it in production
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "general-socket-insecure-default-secret-key")
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "*")

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "realtime",
    "realtime.presence",
    "realtime.push",
    "shared_events",
    "conversations",
    "prospects",
    "leadfinder",
    "emit_api",
]

MIDDLEWARE = [
    "emit_api.middleware.RequestMetricsMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES: dict[str, dict[str, Any]] = {
    "default": {
        "ENGINE": "config.sqlite_fair",  # write transactions take turns between processes
        "NAME": env_str("SQLITE_PATH", str(BASE_DIR / "db.sqlite3")),
        # database_sync_to_async closes connections past this age after every call; reopening
        # a WAL database (and checkpointing it on close) each time costs ~20 ms per write
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            # WAL lets readers run beside the writer; the busy timeout waits for the lock
            # instead of failing at once under a burst of writes.
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            "timeout": 20,
            "transaction_mode": "IMMEDIATE",
        },
    }
}
# DATABASE_URL (e.g. postgres://user:password@host:5432/name) replaces the SQLite file;
# connections are kept open as above, and checked before reuse
if env_str("DATABASE_URL"):
    DATABASES["default"] = dict(
        dj_database_url.parse(env_str("DATABASE_URL"), conn_max_age=None, conn_health_checks=True)
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True
STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

SOCKETIO_MAX_PAYLOAD = env_int("SOCKETIO_MAX_PAYLOAD", 1_000_000)

REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    from realtime.redisconn import layer_host

    REDIS_HOST = layer_host(REDIS_URL, max_connections=env_int("REDIS_MAX_CONNECTIONS", 256))
    # pubsub (default): a broadcast is one PUBLISH and arrives on a subscription stream, no
    # round trip per message; 2.6x the cross-process deliveries of core in the bench
    # (bench/RESULTS.md). core: messages wait in Redis for a process that is briefly away, and
    # a channel has a capacity (CHANNEL_CAPACITY); each message costs a blocking pop.
    REDIS_LAYER = env_str("REDIS_LAYER", "pubsub")
    if REDIS_LAYER == "pubsub":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
                "CONFIG": {"hosts": [REDIS_HOST]},
            }
        }
    elif REDIS_LAYER == "core":
        CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [REDIS_HOST],
                    # each process receives one message per broadcast on its hub channel: a
                    # burst of broadcasts must fit, so the capacity is sized for real fan-out
                    "capacity": env_int("CHANNEL_CAPACITY", 10_000),
                    "expiry": 60,
                    "group_expiry": 86_400,
                },
            }
        }
    else:
        raise ImproperlyConfigured(f"REDIS_LAYER must be pubsub or core, not {REDIS_LAYER!r}")
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"capacity": env_int("CHANNEL_CAPACITY", 10_000), "expiry": 60},
        }
    }

REALTIME = {
    "PING_INTERVAL_MS": env_int("SOCKETIO_PING_INTERVAL_MS", 25_000),
    "PING_TIMEOUT_MS": env_int("SOCKETIO_PING_TIMEOUT_MS", 20_000),
    "MAX_PAYLOAD": SOCKETIO_MAX_PAYLOAD,
    "CONNECT_TIMEOUT_MS": env_int("SOCKETIO_CONNECT_TIMEOUT_MS", 45_000),
    "CORS_ALLOWED_ORIGINS": env_list("CORS_ALLOWED_ORIGINS", "*"),
    "MOUNTS": {"/socket.io/": "config.namespaces.router"},
    # socket authentication (contract §2); without JWT_SECRET the server starts only in DEBUG
    "JWT_SECRET": env_str("JWT_SECRET"),
    # rotation: the old secret(s), comma-separated, accepted besides JWT_SECRET for a while
    "JWT_SECRET_PREVIOUS": env_list("JWT_SECRET_PREVIOUS"),
    "JWT_ALGORITHMS": env_list("JWT_ALGORITHMS", "HS256"),
    "JWT_LEEWAY_S": env_float("JWT_LEEWAY_S", 5.0),
    "JWT_AUDIENCE": env_str("JWT_AUDIENCE") or None,
    "JWT_ISSUER": env_str("JWT_ISSUER") or None,
    "PRESENCE_GRACE_S": env_float("PRESENCE_GRACE_S", 5.0),
    "PRESENCE_TTL_S": env_float("PRESENCE_TTL_S", 60.0),
    "SHUTDOWN_TIMEOUT_S": env_float("SHUTDOWN_TIMEOUT_S", 10.0),
    "SHUTDOWN_DRAIN_S": env_float("SHUTDOWN_DRAIN_S", 0.0),
    "LAYER_CONCURRENCY": env_int("LAYER_CONCURRENCY", 64),
    # hostile clients: event rates ("100/s", "" for none), caps per address, user, connection
    "THROTTLE_SOCKET_RATE": env_str("THROTTLE_SOCKET_RATE", "100/s"),
    "THROTTLE_USER_RATE": env_str("THROTTLE_USER_RATE", "300/s"),
    "THROTTLE_DISCONNECT_AFTER": env_int("THROTTLE_DISCONNECT_AFTER", 200),
    "MAX_CONNECTIONS_PER_IP": env_int("MAX_CONNECTIONS_PER_IP", 1_000),
    "MAX_SOCKETS_PER_USER": env_int("MAX_SOCKETS_PER_USER", 100),
    "MAX_NAMESPACES_PER_CONNECTION": env_int("MAX_NAMESPACES_PER_CONNECTION", 32),
    "MAX_ROOMS_PER_SOCKET": env_int("MAX_ROOMS_PER_SOCKET", 1_000),
    # reverse proxies whose X-Forwarded-For/-Proto are believed (addresses or networks, or *)
    "TRUSTED_PROXIES": env_list("TRUSTED_PROXIES", "127.0.0.1,::1"),
    # push (contract §5): PUSH_BACKEND firebase|log|memory; empty picks firebase when
    # FCM_CREDENTIALS is set, else log. FCM_API_BASE points FCM at a local stand-in (tests)
    "PUSH_BACKEND": env_str("PUSH_BACKEND"),
    "FCM_CREDENTIALS": env_str("FCM_CREDENTIALS"),
    "FCM_API_BASE": env_str("FCM_API_BASE"),
    "PUSH_CONCURRENCY": env_int("PUSH_CONCURRENCY", 8),
    "PUSH_TIMEOUT_S": env_float("PUSH_TIMEOUT_S", 10.0),
}

# the internal REST API: callers present `x-internal-key`; several comma-separated keys are
# accepted during a rotation window. Unset: loopback clients only.
INTERNAL_API_KEYS = env_list("INTERNAL_API_KEY")

# conversations: a typing indicator stops by itself after this many seconds (contract §5)
TYPING_TIMEOUT_S = env_float("TYPING_TIMEOUT_S", 8.0)

REST_FRAMEWORK = {
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "emit_api.exceptions.envelope_exception_handler",
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["emit_api.permissions.InternalAccess"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "general-socket REST API",
    "DESCRIPTION": "Emit Socket.IO events to users, accounts and rooms; presence; health.",
    "VERSION": "1.0.0",
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
}
# a REST emit body may be as large as a Socket.IO packet, and no larger
DATA_UPLOAD_MAX_MEMORY_SIZE = SOCKETIO_MAX_PAYLOAD + 1024

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
# LOG_FORMAT=json: one JSON object a line, with the sid, namespace and uid of the socket at work
LOG_FORMAT = env_str("LOG_FORMAT", "plain").lower()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {
        "plain": {
            "()": "realtime.logcontext.ContextFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s",
        },
        "json": {"()": "realtime.logcontext.JsonFormatter"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "json" if LOG_FORMAT == "json" else "plain",
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "daphne": {"level": "WARNING"},
        "uvicorn.error": {"level": "WARNING"},  # not a line per WebSocket opened and closed
        "django.channels.server": {"level": "WARNING"},
        # its one INFO line reports a group_send that skipped full channels: whatever
        # LOG_LEVEL says, realtime.layerlink must see it, to count it and log it as an error
        "channels_redis.core": {"level": "INFO"},
    },
}
