"""Compact JSON as Socket.IO peers write it (no spaces), through orjson with a stdlib fallback."""

import json
import math
import re
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
    """`value` with every float that is not finite replaced by None (JSON nests at most
    MAX_DEPTH deep where it comes from outside, so the recursion stays shallow)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(item) for item in value]
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    return value


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
    stack: list[Any] = []
    data = _replaced_or_queued(data, stack)
    while stack:  # iterative: the caller checks the depth only after this returns
        value = stack.pop()
        if isinstance(value, list):
            for index, item in enumerate(value):
                value[index] = _replaced_or_queued(item, stack)
        else:
            items = list(value.items())
            value.clear()  # refilled in order, the keys replaced too
            for key, item in items:
                value[_replaced(key)] = _replaced_or_queued(item, stack)
    return data


def _replaced_or_queued(value: Any, stack: list[Any]) -> Any:
    """A string replaced, a list or object queued on `stack` to be walked, anything else."""
    if isinstance(value, str):
        return _replaced(value)
    if isinstance(value, list | dict):
        stack.append(value)
    return value


def _replaced(text: str) -> str:
    """`text` with each lone surrogate replaced by U+FFFD, as a UTF-8 encoder writes it."""
    if _LONE_SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


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
