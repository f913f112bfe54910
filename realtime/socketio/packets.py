"""Socket.IO v5 packet codec: pure functions, no I/O.

Text form: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON>]`, e.g.
`2/v1/shared,1["join",{}]`. Binary packets (BINARY_EVENT, BINARY_ACK) replace each `bytes`
value with `{"_placeholder":true,"num":N}` and travel as the text packet followed by N
binary frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

from ..jsoncodec import MAX_DEPTH, dumps, dumps_plain, loads, nests_deeper

RESERVED_EVENTS = frozenset(
    {"connect", "connect_error", "disconnect", "disconnecting", "newListener", "removeListener"}
)
MAX_ACK_ID = 2**53 - 1  # what a JavaScript peer can count to


class PacketType(IntEnum):
    CONNECT = 0
    DISCONNECT = 1
    EVENT = 2
    ACK = 3
    CONNECT_ERROR = 4
    BINARY_EVENT = 5
    BINARY_ACK = 6


class SocketIOParseError(ValueError):
    """A packet that is not valid Socket.IO v5."""


@dataclass(slots=True)
class Packet:
    type: PacketType
    namespace: str = "/"
    data: Any = None
    id: int | None = None
    attachments: int = 0  # announced binary frames still to come (decoding only)
    binary: list[bytes] = field(default_factory=list)


# ----- encoding -------------------------------------------------------------------------


def encode(packet: Packet) -> list[str | bytes]:
    """Encode to the Engine.IO message payloads: one text, then any binary attachments.

    `bytes` anywhere in the data turns EVENT into BINARY_EVENT and ACK into BINARY_ACK.
    """
    text, attachments = encode_parts(packet)
    return [text, *attachments]


def encode_event_text(namespace: str, data: list[Any]) -> str | None:
    """`encode` of an EVENT with no ack id whose data holds no bytes (what a broadcast nearly
    always is), without building a Packet; None when it holds bytes (then `encode` it)."""
    text = dumps_plain(data)
    if text is None:
        return None
    return "2" + text if namespace == "/" else f"2{namespace},{text}"


def encode_parts(packet: Packet) -> tuple[str, list[bytes]]:
    """`encode`, with the text and the binary attachments apart."""
    kind = packet.type
    data = packet.data
    attachments: list[bytes] = []
    text = None  # the data's JSON, when made before the binary walk
    if kind in (PacketType.EVENT, PacketType.ACK, PacketType.BINARY_EVENT, PacketType.BINARY_ACK):
        # no bytes in it (orjson refuses them): nothing to walk
        text = None if data is None else dumps_plain(data)
        if text is None:
            data = deconstruct(data, attachments)
        if attachments:
            kind = PacketType.BINARY_EVENT if kind in _EVENTS else PacketType.BINARY_ACK
        elif kind in _BINARY:
            kind = PacketType.EVENT if kind is PacketType.BINARY_EVENT else PacketType.ACK
    parts = [str(int(kind))]
    if attachments:
        parts.append(f"{len(attachments)}-")
    if packet.namespace != "/":
        parts.append(packet.namespace + ",")
    if packet.id is not None:
        parts.append(str(packet.id))
    if text is not None:
        parts.append(text)
    elif data is not None:
        parts.append(dumps(data))
    return "".join(parts), attachments


_EVENTS = (PacketType.EVENT, PacketType.BINARY_EVENT)
_BINARY = (PacketType.BINARY_EVENT, PacketType.BINARY_ACK)


def deconstruct(data: Any, attachments: list[bytes]) -> Any:
    """Replace binary values with placeholders, appending them to `attachments` in order."""
    if isinstance(data, (bytes, bytearray, memoryview)):
        attachments.append(bytes(data))
        return {"_placeholder": True, "num": len(attachments) - 1}
    if isinstance(data, (list, tuple)):
        return [deconstruct(item, attachments) for item in data]
    if isinstance(data, dict):
        return {key: deconstruct(value, attachments) for key, value in data.items()}
    return data


def has_binary(data: Any) -> bool:
    if isinstance(data, (bytes, bytearray, memoryview)):
        return True
    if isinstance(data, (list, tuple)):
        return any(has_binary(item) for item in data)
    if isinstance(data, dict):
        return any(has_binary(value) for value in data.values())
    return False


# ----- decoding -------------------------------------------------------------------------


def decode(text: str, *, max_attachments: int = 64) -> Packet:
    """Decode the text part of a packet. A binary packet comes back with `attachments` > 0
    and placeholders still in `data`; feed the frames to `reconstruct` once all arrived."""
    if not text or not ("0" <= text[0] <= "6"):
        raise SocketIOParseError("unknown packet type")
    kind = PacketType(ord(text[0]) - 48)
    pos = 1
    attachments = 0
    if kind in _BINARY:
        dash = text.find("-", pos)
        count = text[pos:dash] if dash > 0 else ""
        if not count.isdigit() or not count.isascii():
            raise SocketIOParseError("bad attachment count")
        attachments = _bounded_int(count, max_attachments, "attachment count")
        if attachments == 0:
            raise SocketIOParseError("attachment count out of range")
        pos = dash + 1
    namespace = "/"
    if pos < len(text) and text[pos] == "/":
        comma = text.find(",", pos)
        end = comma if comma >= 0 else len(text)
        namespace = text[pos:end].split("?", 1)[0]
        pos = end + 1 if comma >= 0 else end
    ack_id = None
    start = pos
    while pos < len(text) and "0" <= text[pos] <= "9":
        pos += 1
    if pos > start:
        ack_id = _bounded_int(text[start:pos], MAX_ACK_ID, "ack id")
    data = None
    if pos < len(text):
        try:
            data = loads(text[pos:])
        except ValueError:
            raise SocketIOParseError("payload is not JSON") from None
        if nests_deeper(data, MAX_DEPTH, text, pos):
            raise SocketIOParseError("payload nested too deeply")
    _check_payload(kind, data, ack_id)
    return Packet(kind, namespace, data, ack_id, attachments)


def _check_payload(kind: PacketType, data: Any, ack_id: int | None) -> None:
    if kind is PacketType.CONNECT:
        valid = data is None or isinstance(data, dict)
    elif kind is PacketType.DISCONNECT:
        valid = data is None
    elif kind is PacketType.CONNECT_ERROR:
        valid = isinstance(data, (str, dict))
    elif kind in _EVENTS:
        valid = (
            isinstance(data, list)
            and len(data) > 0
            and (
                (isinstance(data[0], str) and data[0] not in RESERVED_EVENTS)
                or (isinstance(data[0], (int, float)) and not isinstance(data[0], bool))
            )
        )
    else:  # ACK, BINARY_ACK
        valid = isinstance(data, list) and ack_id is not None
    if not valid:
        raise SocketIOParseError(f"invalid payload for {kind.name}")


def _bounded_int(digits: str, limit: int, what: str) -> int:
    """ASCII digits as an int no larger than `limit`.

    The length check comes first: `int()` of more than 4300 digits raises a plain ValueError.
    """
    significant = digits.lstrip("0") or "0"
    if len(significant) > len(str(limit)) or int(significant) > limit:
        raise SocketIOParseError(f"{what} out of range")
    return int(significant)


def reconstruct(data: Any, binary: list[bytes]) -> Any:
    """Put the binary attachments back in place of their placeholders.

    JSON may nest deeper (orjson allows 1024 levels) than Python's recursion limit.
    """
    try:
        return _reconstruct(data, binary)
    except RecursionError:
        raise SocketIOParseError("binary packet nested too deeply") from None


def _reconstruct(data: Any, binary: list[bytes]) -> Any:
    if isinstance(data, list):
        return [_reconstruct(item, binary) for item in data]
    if isinstance(data, dict):
        if data.get("_placeholder") is True and "num" in data:
            num = data["num"]
            if not isinstance(num, int) or isinstance(num, bool) or not 0 <= num < len(binary):
                raise SocketIOParseError("placeholder out of range")
            return binary[num]
        return {key: _reconstruct(value, binary) for key, value in data.items()}
    return data
