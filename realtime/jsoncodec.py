"""Compact JSON as Socket.IO peers write it (no spaces), through orjson with a stdlib fallback."""

import json
from typing import Any

import orjson


def dumps(value: Any) -> str:
    """Serialise to compact JSON text; integers beyond 64 bits fall back to the stdlib."""
    text = dumps_plain(value)
    if text is None:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text


def dumps_plain(value: Any) -> str | None:
    """`dumps` of a value orjson takes as it is, else None: it refuses `bytes` (Socket.IO's
    binary attachments), integers beyond 64 bits and keys that are not strings."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return None


def loads(text: str | bytes) -> Any:
    """Parse JSON; raises ValueError on anything that is not JSON."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(str(exc)) from None
