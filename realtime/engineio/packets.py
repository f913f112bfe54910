"""Engine.IO v4 packet codec: pure functions, no I/O.

On the wire a packet is a type digit followed by its data (`4hello`); a binary message is a
WebSocket binary frame, or `b` + base64 inside a long-polling payload. Payloads (polling
bodies) join packets with the record separator `\\x1e`.
"""

import base64
import binascii
from dataclasses import dataclass
from enum import IntEnum

RECORD_SEPARATOR = "\x1e"


class PacketType(IntEnum):
    OPEN = 0
    CLOSE = 1
    PING = 2
    PONG = 3
    MESSAGE = 4
    UPGRADE = 5
    NOOP = 6


class EngineIOParseError(ValueError):
    """A packet or payload that is not valid Engine.IO v4."""


@dataclass(frozen=True, slots=True)
class Packet:
    type: PacketType
    data: str | bytes = ""


# An encoded packet as the transports carry it: text (type digit + data) or raw binary
# (always a MESSAGE). Queues hold these, so a broadcast is encoded once.
Frame = str | bytes

PING_FRAME = "2"
PONG_FRAME = "3"
NOOP_FRAME = "6"
CLOSE_FRAME = "1"


def encode_packet(packet: Packet) -> Frame:
    if isinstance(packet.data, bytes):
        if packet.type != PacketType.MESSAGE:
            raise EngineIOParseError("only MESSAGE packets carry binary data")
        return packet.data
    return f"{int(packet.type)}{packet.data}"


def decode_packet(frame: Frame) -> Packet:
    """Decode one WebSocket frame (text or binary) into a packet."""
    if isinstance(frame, (bytes, bytearray, memoryview)):
        return Packet(PacketType.MESSAGE, bytes(frame))
    if not frame:
        raise EngineIOParseError("empty packet")
    code = frame[0]
    if not ("0" <= code <= "6"):
        raise EngineIOParseError(f"unknown packet type {code!r}")
    return Packet(PacketType(ord(code) - 48), frame[1:])


def encode_payload(frames: list[Frame]) -> str:
    """Join ready frames into one long-polling body, binary as `b` + base64."""
    return RECORD_SEPARATOR.join(
        frame if isinstance(frame, str) else "b" + base64.b64encode(frame).decode("ascii")
        for frame in frames
    )


def decode_payload(body: str) -> list[Packet]:
    """Split a long-polling body into packets; any bad part fails the whole payload."""
    if not body:
        raise EngineIOParseError("empty payload")
    packets = []
    for part in body.split(RECORD_SEPARATOR):
        if part.startswith("b"):
            try:
                data = base64.b64decode(part[1:], validate=True)
            except (binascii.Error, ValueError):
                raise EngineIOParseError("bad base64 in binary packet") from None
            packets.append(Packet(PacketType.MESSAGE, data))
        else:
            packets.append(decode_packet(part))
    return packets
