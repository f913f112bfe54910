"""The one place that turns (namespace, room) into a channel-layer group name, and a process
id into its hub channel name."""

import functools
import hashlib
import json
import re

_UNSAFE = re.compile(r"[^a-zA-Z0-9\-_.]+")  # ASCII digits only: `\d` is any Unicode digit
_READABLE_LENGTH = 40
_CACHED_NAMES = 8192  # every broadcast on a layer names its groups: ~2 µs each, uncached


@functools.lru_cache(maxsize=_CACHED_NAMES)
def group_name(namespace: str, room: str | None) -> str:
    """A valid group name (`^[a-zA-Z\\d\\-_.]+$`, under 100 characters) for a room.

    `room=None` names the namespace-wide group. A readable slug for debugging, then a digest of
    the exact pair, so two rooms that slug alike never share a group. The pair is digested as
    JSON: unambiguous whatever the names contain (NUL, lone surrogates), and None is not "".
    """
    raw = json.dumps([namespace, room])
    digest = hashlib.blake2b(raw.encode(), digest_size=10).hexdigest()
    slug = _UNSAFE.sub("_", f"{namespace}.{room or '*'}")[:_READABLE_LENGTH]
    return f"sio.{slug}.{digest}"


def hub_channel(process_id: str) -> str:
    """The channel a process's hub receives on; process ids are hex (see `ids`)."""
    return f"sio.hub.{process_id}"
