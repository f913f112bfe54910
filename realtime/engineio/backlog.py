"""How many bytes the ASGI server still holds for a client it could not write to yet.

Daphne's `send` never waits: Twisted queues what the client does not read, without a bound.
To drop a client that stopped reading before that queue grows, we read the backlog of the
Twisted transport behind daphne's `send` (a `partial(handle_reply, protocol)`). Servers whose
`send` awaits the socket's drain (uvicorn) need no probe: the session's own bounded queue
fills up instead. Anything unrecognised reports 0.
"""

from __future__ import annotations

import functools
from typing import Any


def protocol_of(send: Any) -> Any | None:
    """The daphne WebSocket protocol behind daphne's ASGI `send`, or None for other servers."""
    if isinstance(send, functools.partial) and send.args:
        return send.args[0]
    return None


def transport_of(send: Any) -> Any | None:
    """The Twisted transport behind daphne's ASGI `send`, or None for other servers."""
    return getattr(protocol_of(send), "transport", None)


def pending_bytes(transport: Any | None) -> int:
    """Bytes written to `transport` that the kernel has not taken yet."""
    if transport is None:
        return 0
    buffered = getattr(transport, "dataBuffer", b"")
    offset = getattr(transport, "offset", 0)
    temp = getattr(transport, "_tempDataLen", 0)
    try:
        return max(len(buffered) - int(offset), 0) + int(temp)
    except (TypeError, ValueError):
        return 0
