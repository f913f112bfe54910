"""Compact JSON as Socket.IO peers write it (no spaces), through orjson with a stdlib fallback."""

import json
import math
import re
from collections.abc import Callable
from typing import Any

import orjson

# how deep JSON from a client or a caller may nest: orjson parses 1024 levels, Python's own
# parser recurses until its recursion limit, and code that walks the data (encoding an emit,
# rebuilding binary, a serializer) recurses as well
MAX_DEPTH = 100


def dumps(value: Any) -> str:
    """Serialise to compact JSON text; what orjson refuses (integers beyond 64 bits, keys that
    are not strings, lone surrogates) falls back to the stdlib."""
    text = dumps_plain(value)
    if text is None:
        return _stdlib_dumps(value)
    return text


def _stdlib_dumps(value: Any) -> str:
    """The stdlib's JSON, written as orjson and JavaScript's JSON.stringify write what it
    would refuse or pass on: a float that is not finite as null, a lone surrogate (from
    Python's JSON parser: a REST caller's body) escaped, so the text is valid UTF-8."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # inf or nan (a REST body's 1e999), where orjson writes null
        value = _finite(value)
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    try:
        text.encode()
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":"), allow_nan=False)  # all non-ASCII escaped
    return text


def _finite(value: Any) -> Any:
    """`value` with every float that is not finite replaced by None."""
    return _mapped(value, _none_if_not_finite)


def _none_if_not_finite(item: Any) -> Any:
    return None if isinstance(item, float) and not math.isfinite(item) else item


def _mapped(value: Any, scalar: Callable[[Any], Any]) -> Any:
    """`value` rebuilt with `scalar` applied to every item that is not a list or an object,
    and to every string key. Recursive: JSON nests at most MAX_DEPTH deep where it comes
    from outside (`loads` checks it before it walks)."""
    if isinstance(value, list | tuple):
        return [_mapped(item, scalar) for item in value]
    if isinstance(value, dict):
        return {
            scalar(key) if isinstance(key, str) else key: _mapped(item, scalar)
            for key, item in value.items()
        }
    return scalar(value)


def dumps_plain(value: Any) -> str | None:
    """`dumps` of a value orjson takes as it is, else None: it refuses `bytes` (Socket.IO's
    binary attachments), integers beyond 64 bits, keys that are not strings and lone
    surrogates."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return None


def loads(text: str | bytes) -> Any:
    """Parse JSON; raises ValueError on anything that is not JSON. A lone surrogate escape
    (`"\\ud83d"`) is read as U+FFFD (see `_loads_lone_surrogates`)."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        error = str(exc)
    if _SURROGATE_ESCAPE.search(text if isinstance(text, str) else text.decode("latin-1")):
        return _loads_lone_surrogates(text, error)
    raise ValueError(error)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _loads_lone_surrogates(text: str | bytes, error: str) -> Any:
    """JSON that orjson refuses for a lone surrogate escape, read by Python's parser with each
    lone surrogate replaced by U+FFFD.

    JSON's grammar allows such an escape, and JavaScript's JSON.stringify writes one for a
    string cut between the two halves of a character (`"👍".slice(0, 1)`): socket.io reads
    the packet, and Node's UTF-8 encoders (a socket, a database driver) write U+FFFD for the
    half. A Python string holding one could be neither stored nor written as UTF-8, so every
    handler would have to check for it; replaced here, none has to."""
    try:
        data = json.loads(text, parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # not JSON after all (or too deep to read)
        raise ValueError(error) from None
    if nests_deeper(data, MAX_DEPTH, text):
        raise ValueError(f"nested more than {MAX_DEPTH} levels deep")
    return _mapped(data, _replaced)


def _replaced(item: Any) -> Any:
    """A string with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder writes it."""
    if not isinstance(item, str) or _LONE_SURROGATE.search(item) is None:
        return item
    return item.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def nests_deeper(
    data: Any, limit: int = MAX_DEPTH, text: str | bytes | None = None, start: int = 0
) -> bool:
    """Whether parsed JSON `data` nests more than `limit` lists and objects deep, without
    recursing. Given the `text` it was parsed from (from `start` on), only walked when that
    holds more than `limit` brackets at all, so an ordinary payload costs two counts."""
    if isinstance(text, str) and text.count("[", start) + text.count("{", start) <= limit:
        return False
    if isinstance(text, bytes) and text.count(b"[", start) + text.count(b"{", start) <= limit:
        return False
    stack: list[tuple[Any, int]] = [(data, 1)] if isinstance(data, list | dict) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, list | dict))
    return False
