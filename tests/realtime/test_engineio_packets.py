"""Engine.IO v4 codec: exact wire strings, `\\x1e` payload batching, and garbage in."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.engineio.packets import (
    CLOSE_FRAME,
    NOOP_FRAME,
    PING_FRAME,
    PONG_FRAME,
    RECORD_SEPARATOR,
    EngineIOParseError,
    Packet,
    PacketType,
    decode_packet,
    decode_payload,
    encode_packet,
    encode_payload,
)

# every packet type, as the reference engine.io-parser writes it
WIRE = [
    (Packet(PacketType.OPEN, '{"sid":"abc","upgrades":[]}'), '0{"sid":"abc","upgrades":[]}'),
    (Packet(PacketType.CLOSE), "1"),
    (Packet(PacketType.PING), "2"),
    (Packet(PacketType.PING, "probe"), "2probe"),
    (Packet(PacketType.PONG), "3"),
    (Packet(PacketType.PONG, "probe"), "3probe"),
    (Packet(PacketType.MESSAGE, "hello"), "4hello"),
    (Packet(PacketType.MESSAGE, "héllo ✓ 😀"), "4héllo ✓ 😀"),
    (Packet(PacketType.MESSAGE, ""), "4"),
    (Packet(PacketType.MESSAGE, b"\x00\x01\xff"), b"\x00\x01\xff"),
    (Packet(PacketType.MESSAGE, b""), b""),
    (Packet(PacketType.UPGRADE), "5"),
    (Packet(PacketType.NOOP), "6"),
]


@pytest.mark.parametrize(("packet", "wire"), WIRE)
def test_encode_packet_gives_the_exact_wire_form(packet: Packet, wire: str | bytes) -> None:
    assert encode_packet(packet) == wire


@pytest.mark.parametrize(("packet", "wire"), WIRE)
def test_decode_packet_reads_the_exact_wire_form(packet: Packet, wire: str | bytes) -> None:
    assert decode_packet(wire) == packet


def test_ready_frames_are_the_encoded_control_packets() -> None:
    assert encode_packet(Packet(PacketType.CLOSE)) == CLOSE_FRAME
    assert encode_packet(Packet(PacketType.PING)) == PING_FRAME
    assert encode_packet(Packet(PacketType.PONG)) == PONG_FRAME
    assert encode_packet(Packet(PacketType.NOOP)) == NOOP_FRAME


@pytest.mark.parametrize("kind", [k for k in PacketType if k is not PacketType.MESSAGE])
def test_only_message_packets_carry_binary(kind: PacketType) -> None:
    with pytest.raises(EngineIOParseError):
        encode_packet(Packet(kind, b"\x01"))


@pytest.mark.parametrize("frame", [bytearray(b"\x01\x02"), memoryview(b"\x01\x02")])
def test_any_binary_frame_decodes_to_a_bytes_message(frame: bytearray | memoryview) -> None:
    packet = decode_packet(frame)
    assert packet == Packet(PacketType.MESSAGE, b"\x01\x02")
    assert type(packet.data) is bytes


@pytest.mark.parametrize("frame", ["", "7", "9", "x", "a4", " 4", "-1", "\x1e", "\u0664hello"])
def test_decode_packet_refuses_unknown_types(frame: str) -> None:
    with pytest.raises(EngineIOParseError):
        decode_packet(frame)


# ----- payloads (long-polling bodies) ---------------------------------------------------


def test_encode_payload_joins_with_record_separators_and_base64s_binary() -> None:
    frames = ["4hello", b"\x01\x02\x03", "2", "4€", b""]
    assert encode_payload(frames) == "4hello\x1ebAQID\x1e2\x1e4€\x1eb"


def test_encode_payload_of_one_frame_has_no_separator() -> None:
    assert encode_payload(["4hello"]) == "4hello"
    assert encode_payload([b"\xff\xfe"]) == "b//4="


def test_decode_payload_splits_batches_and_decodes_binary() -> None:
    assert decode_payload("4hello\x1ebAQID\x1e2\x1e6\x1e1") == [
        Packet(PacketType.MESSAGE, "hello"),
        Packet(PacketType.MESSAGE, b"\x01\x02\x03"),
        Packet(PacketType.PING),
        Packet(PacketType.NOOP),
        Packet(PacketType.CLOSE),
    ]


def test_decode_payload_of_one_packet() -> None:
    assert decode_payload('40/admin,{"token":"x"}') == [
        Packet(PacketType.MESSAGE, '0/admin,{"token":"x"}')
    ]
    assert decode_payload("b") == [Packet(PacketType.MESSAGE, b"")]


@pytest.mark.parametrize(
    "body",
    [
        "",  # nothing at all
        "\x1e",  # two empty packets
        "4a\x1e",  # a trailing separator
        "\x1e4a",  # a leading one
        "4a\x1e\x1e4b",  # an empty packet in the middle
        "4a\x1e9",  # one unknown type spoils the batch
        "bAQI",  # bad base64 padding
        "b!!!!",  # not base64 at all
        "bAQ ID",  # whitespace inside base64
        "bÄQID",  # non-ASCII inside base64
        "x",
    ],
)
def test_decode_payload_refuses_bad_bodies(body: str) -> None:
    with pytest.raises(EngineIOParseError):
        decode_payload(body)


# ----- properties -------------------------------------------------------------------------

# text without the record separator: a text packet that contains it cannot travel by polling
_text = st.text(st.characters(exclude_characters=RECORD_SEPARATOR))
_frames = st.one_of(
    st.tuples(st.sampled_from("0123456"), _text).map("".join),
    st.binary(max_size=64),
)


@given(st.lists(_frames, min_size=1, max_size=8))
def test_payload_round_trip(frames: list[str | bytes]) -> None:
    assert decode_payload(encode_payload(frames)) == [decode_packet(f) for f in frames]


_any_text = st.text(st.characters(exclude_categories=()))  # surrogates included
_payloadish = st.lists(
    st.one_of(
        _any_text,
        st.tuples(st.sampled_from("0123456789bx"), _any_text).map("".join),
        st.binary(max_size=32).map(lambda b: "b" + b.hex()),
    ),
    max_size=6,
).map(RECORD_SEPARATOR.join)


@settings(max_examples=300)
@given(st.one_of(_any_text, _payloadish))
def test_decode_payload_only_ever_raises_its_parse_error(body: str) -> None:
    try:
        packets = decode_payload(body)
    except EngineIOParseError:
        return
    assert packets and all(isinstance(p, Packet) for p in packets)


@settings(max_examples=300)
@given(st.one_of(_any_text, st.binary()))
def test_decode_packet_only_ever_raises_its_parse_error(frame: str | bytes) -> None:
    try:
        packet = decode_packet(frame)
    except EngineIOParseError:
        return
    assert isinstance(packet.type, PacketType)
