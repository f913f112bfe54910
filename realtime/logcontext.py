"""Structured logs: one JSON object a line (LOG_FORMAT=json), tagged with the socket at work.

Each socket's job runner sets the context (sid, namespace, uid), so every line logged while a
handler runs, in the consumer or in a service it calls, carries them.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from typing import Any

from .jsoncodec import dumps

socket_context: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "socket_context", default=None
)

_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


def socket_tags(sid: str, namespace: str, uid: str | None) -> dict[str, str]:
    """The socket's fields; also `extra=` for a line about a socket that is logged outside
    its own task (where no context is bound: the transport reading its packets, say)."""
    tags = {"sid": sid, "namespace": namespace}
    if uid is not None:
        tags["uid"] = uid
    return tags


def bind_socket(sid: str, namespace: str, uid: str | None) -> None:
    """Tag what the current task logs from now on with this socket."""
    socket_context.set(socket_tags(sid, namespace, uid))


class JsonFormatter(logging.Formatter):
    """`{"time", "level", "logger", "message", sid?, namespace?, uid?, exc?, ...extra}`."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update(socket_context.get() or {})
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else repr(value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return dumps(entry)


class ContextFormatter(logging.Formatter):
    """The plain format, with ` [sid=… ns=… uid=…]` appended when a socket is at work."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = socket_context.get()
        if context:
            line += " [" + " ".join(f"{key}={value}" for key, value in context.items()) + "]"
        return line
