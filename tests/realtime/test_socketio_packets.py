"""Socket.IO v5 codec: exact wire strings, binary placeholders, limits, and garbage in."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from realtime.namespace import frames_for
from realtime.socketio.packets import (
    MAX_ACK_ID,
    MAX_DEPTH,
    RESERVED_EVENTS,
    Packet,
    PacketType,
    SocketIOParseError,
    decode,
    encode,
    encode_event_text,
    has_binary,
    reconstruct,
)

EVENT, ACK, BINARY_EVENT, BINARY_ACK = (
    PacketType.EVENT,
    PacketType.ACK,
    PacketType.BINARY_EVENT,
    PacketType.BINARY_ACK,
)


def placeholder(num: int) -> dict[str, Any]:
    return {"_placeholder": True, "num": num}


# ----- exact wire strings, both ways --------------------------------------------------------

TEXT_WIRE = [
    (Packet(PacketType.CONNECT), "0"),
    (Packet(PacketType.CONNECT, "/admin"), "0/admin,"),
    (Packet(PacketType.CONNECT, "/admin", {"token": "abc"}), '0/admin,{"token":"abc"}'),
    (
        Packet(PacketType.CONNECT, "/", {"sid": "oSO0OpakMV_3jnilAAAA"}),
        '0{"sid":"oSO0OpakMV_3jnilAAAA"}',
    ),
    (Packet(PacketType.DISCONNECT), "1"),
    (Packet(PacketType.DISCONNECT, "/admin"), "1/admin,"),
    (Packet(EVENT, "/", ["hello", 1]), '2["hello",1]'),
    (Packet(EVENT, "/v1/shared", ["join", {}], 1), '2/v1/shared,1["join",{}]'),
    (Packet(EVENT, "/", ["foo"], 12), '212["foo"]'),
    (Packet(EVENT, "/", ["ünï", "✓"], 0), '20["ünï","✓"]'),
    (Packet(EVENT, "/", [7, None]), "2[7,null]"),
    (Packet(ACK, "/admin", ["bar"], 13), '3/admin,13["bar"]'),
    (Packet(ACK, "/", [], 1), "31[]"),
    (Packet(ACK, "/", [], MAX_ACK_ID), f"3{MAX_ACK_ID}[]"),
    (
        Packet(PacketType.CONNECT_ERROR, "/", {"message": "Not authorized"}),
        '4{"message":"Not authorized"}',
    ),
    (
        Packet(
            PacketType.CONNECT_ERROR,
            "/v1/shared",
            {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}},
        ),
        '4/v1/shared,{"message":"NOT_AUTHENTICATED","data":{"errno":401}}',
    ),
]


@pytest.mark.parametrize(("packet", "wire"), TEXT_WIRE)
def test_encode_gives_the_exact_wire_string(packet: Packet, wire: str) -> None:
    assert encode(packet) == [wire]


@pytest.mark.parametrize(("packet", "wire"), TEXT_WIRE)
def test_decode_reads_the_exact_wire_string(packet: Packet, wire: str) -> None:
    assert decode(wire) == packet


def test_binary_event_uses_placeholders_and_trailing_frames() -> None:
    packet = Packet(EVENT, "/", ["message-back", b"\x01\x02", {"deep": [b"\x03"]}])
    assert encode(packet) == [
        '52-["message-back",{"_placeholder":true,"num":0},'
        '{"deep":[{"_placeholder":true,"num":1}]}]',
        b"\x01\x02",
        b"\x03",
    ]


def test_binary_event_as_engineio_frames() -> None:
    packet = Packet(EVENT, "/", ["message-back", b"\x01", {"x": b"\x02"}])
    assert frames_for(packet) == [
        '452-["message-back",{"_placeholder":true,"num":0},{"x":{"_placeholder":true,"num":1}}]',
        b"\x01",
        b"\x02",
    ]


def test_binary_ack_with_namespace_and_id() -> None:
    packet = Packet(ACK, "/admin", [b"\xff", "ok"], 15)
    assert encode(packet) == ['61-/admin,15[{"_placeholder":true,"num":0},"ok"]', b"\xff"]


def test_binary_event_with_namespace_and_id() -> None:
    packet = Packet(EVENT, "/v1/shared", ["upload", {"file": bytearray(b"ab")}], 4)
    assert encode(packet) == [
        '51-/v1/shared,4["upload",{"file":{"_placeholder":true,"num":0}}]',
        b"ab",
    ]


def test_binary_types_without_binary_are_sent_as_plain_events_and_acks() -> None:
    assert encode(Packet(BINARY_EVENT, "/", ["e", 1])) == ['2["e",1]']
    assert encode(Packet(BINARY_ACK, "/", ["a"], 3)) == ['33["a"]']


def test_bytes_are_found_anywhere_in_the_payload() -> None:
    data = ["e", {"a": [1, {"b": (b"x", memoryview(b"y"))}]}, [[[b"z"]]], "text"]
    text, *binary = encode(Packet(EVENT, "/", data))
    assert binary == [b"x", b"y", b"z"]
    assert json.loads(text[3:]) == [
        "e",
        {"a": [1, {"b": [placeholder(0), placeholder(1)]}]},
        [[[placeholder(2)]]],
        "text",
    ]
    decoded = decode(text)
    assert decoded.type is BINARY_EVENT and decoded.attachments == 3
    assert reconstruct(decoded.data, binary) == [
        "e",
        {"a": [1, {"b": [b"x", b"y"]}]},
        [[[b"z"]]],
        "text",
    ]


@pytest.mark.parametrize(
    "data",
    [
        None,  # no JSON at all
        ["e", ("a", 1)],  # a tuple is an array
        ["e", 2**64],  # past orjson's integers: the stdlib writes it
        ["e", {1: "x"}],  # a key that is not a string: the stdlib's str() of it
        ["e", {"k": [bytearray(b"b")]}],  # binary: walked
    ],
)
def test_what_orjson_refuses_is_encoded_as_before(data: Any) -> None:
    """Plain data is encoded by orjson without the binary walk; anything orjson refuses still
    goes through the walk and the stdlib fallback."""
    text, *binary = encode(Packet(EVENT, "/", data))
    if data is None:
        assert text == "2"
    elif binary:
        assert text[:3] == "51-" and binary == [b"b"]
    else:
        assert json.loads(text[1:]) == json.loads(json.dumps(data))


def test_has_binary() -> None:
    assert has_binary(b"")
    assert has_binary(["a", {"b": [1, bytearray(b"x")]}])
    assert has_binary(("a", memoryview(b"x")))
    assert not has_binary(["a", {"b": [1, "x", None, 2.5, True]}])


# ----- decoding details ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("wire", "namespace", "data"),
    [
        ("1/admin,", "/admin", None),
        ("1/admin", "/admin", None),  # no trailing comma when nothing follows
        ("0/admin", "/admin", None),
        ('0/admin,{"a":1}', "/admin", {"a": 1}),
        ("0/admin?token=abc,", "/admin", None),  # v2-style query: not part of the name
        ('0/admin?token=abc,{"a":1}', "/admin", {"a": 1}),
        ('0{"a":1}', "/", {"a": 1}),
        ("0/", "/", None),
        ("0/,", "/", None),
    ],
)
def test_namespace_with_and_without_trailing_comma(wire: str, namespace: str, data: Any) -> None:
    packet = decode(wire)
    assert (packet.namespace, packet.data) == (namespace, data)


def test_decode_binary_event_keeps_placeholders_until_reconstructed() -> None:
    packet = decode('52-["message",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]')
    assert packet == Packet(BINARY_EVENT, "/", ["message", placeholder(0), placeholder(1)], None, 2)
    assert reconstruct(packet.data, [b"a", b"b"]) == ["message", b"a", b"b"]


def test_decode_binary_ack() -> None:
    packet = decode('61-/admin,15[{"_placeholder":true,"num":0}]')
    assert packet == Packet(BINARY_ACK, "/admin", [placeholder(0)], 15, 1)


def test_numeric_event_names_are_allowed() -> None:
    assert decode('2[1,"a"]').data == [1, "a"]
    assert decode("2[1.5]").data == [1.5]


@pytest.mark.parametrize("event", sorted(RESERVED_EVENTS))
@pytest.mark.parametrize("prefix", ["2", "2/admin,", "21", "51-"])
def test_reserved_event_names_are_rejected(prefix: str, event: str) -> None:
    with pytest.raises(SocketIOParseError):
        decode(prefix + json.dumps([event, {"_placeholder": True, "num": 0}]))


@pytest.mark.parametrize(
    "wire",
    [
        "3[]",  # an ACK needs an id
        '3/admin,["a"]',
        "6" + "1-" + '[{"_placeholder":true,"num":0}]',
        f"3{MAX_ACK_ID + 1}[]",  # past what a JavaScript peer can count
        f'2{MAX_ACK_ID + 1}["e"]',
        "3" + "9" * 40 + "[]",
        "3" + "1" * 5000 + "[]",  # beyond Python's int-from-str limit
        "2" + "1" * 5000 + '["e"]',
    ],
)
def test_bad_ack_ids_are_rejected(wire: str) -> None:
    with pytest.raises(SocketIOParseError):
        decode(wire)


@pytest.mark.parametrize(
    "wire",
    [
        '5["e",{"_placeholder":true,"num":0}]',  # no count
        '5-["e",{"_placeholder":true,"num":0}]',  # empty count
        '50-["e"]',  # zero attachments
        '565-["e",{"_placeholder":true,"num":0}]',  # over the default limit of 64
        '5a-["e"]',
        '5-1-["e"]',
        '5\u0661-["e",{"_placeholder":true,"num":0}]',  # ARABIC-INDIC DIGIT ONE
        "5" + "1" * 5000 + '-["e"]',  # beyond Python's int-from-str limit
        "6" + "9" * 30 + '-1[{"_placeholder":true,"num":0}]',
    ],
)
def test_bad_attachment_counts_are_rejected(wire: str) -> None:
    with pytest.raises(SocketIOParseError):
        decode(wire)


def test_attachment_limit_is_configurable() -> None:
    wire = '53-["e",{"_placeholder":true,"num":0}]'
    assert decode(wire, max_attachments=3).attachments == 3
    with pytest.raises(SocketIOParseError):
        decode(wire, max_attachments=2)
    assert decode('564-["e"]').attachments == 64
    assert decode("5" + "0" * 5000 + '64-["e"]').attachments == 64  # leading zeros are fine


def test_ack_ids_with_leading_zeros() -> None:
    assert decode('2007["e"]').id == 7
    assert decode("3" + "0" * 5000 + "1[]").id == 1


@pytest.mark.parametrize(
    "data",
    [
        ["e", placeholder(1)],  # only one attachment
        ["e", placeholder(-1)],
        ["e", {"_placeholder": True, "num": "0"}],
        ["e", {"_placeholder": True, "num": True}],
        ["e", {"_placeholder": True, "num": 0.0}],
        ["e", {"_placeholder": True, "num": None}],
        ["e", {"deep": [placeholder(5)]}],
    ],
)
def test_placeholder_out_of_range_is_rejected(data: list[Any]) -> None:
    with pytest.raises(SocketIOParseError):
        reconstruct(data, [b"only one"])


def test_placeholder_lookalikes_are_left_alone() -> None:
    data = ["e", {"_placeholder": "yes", "num": 0}, {"_placeholder": True}]
    assert reconstruct(data, [b"x"]) == data


@pytest.mark.parametrize(
    "wire",
    [
        '2["e",' + "[" * 1000 + "1" + "]" * 1000 + "]",
        '2["e",' + '{"a":' * 1000 + "1" + "}" * 1000 + "]",
        '51-["e",' + "[" * 1000 + json.dumps(placeholder(0)) + "]" * 1000 + "]",
        "3/admin,1" + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1),
    ],
)
def test_deeply_nested_payloads_are_a_parse_error(wire: str) -> None:
    """JSON may nest 1024 deep (orjson's limit): past MAX_DEPTH a packet is refused before any
    Python code walks it (an echo's encoding would blow the stack)."""
    with pytest.raises(SocketIOParseError):
        decode(wire)


def test_payloads_up_to_max_depth_and_wide_ones_decode() -> None:
    deep = "[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1)
    assert decode('2["e",' + deep + "]").data[0] == "e"
    wide = json.dumps(["e", [[{"a": [n]}] for n in range(500)]])
    assert len(decode("2" + wide).data[1]) == 500


def test_a_lone_surrogate_in_a_payload_is_read_as_the_replacement_character() -> None:
    """socket.io-client sends `"👍".slice(0, 1)` as `"\\ud83d"`: the packet is read, not a
    protocol violation, and its text is valid Unicode to store and send on."""
    packet = decode('2/v1,4["message",{"text":"cut \\ud83d"}]')
    assert packet.namespace == "/v1" and packet.id == 4
    assert packet.data == ["message", {"text": "cut \ufffd"}]
    with pytest.raises(SocketIOParseError):
        decode('2["e",' + "[" * 900 + '"\\ud800"' + "]" * 900 + "]")


def test_rebuilding_binary_never_blows_the_stack() -> None:
    deep: Any = placeholder(0)
    for _ in range(2000):
        deep = [deep]
    with pytest.raises(SocketIOParseError):
        reconstruct(["e", deep], [b"x"])


@pytest.mark.parametrize(
    "wire",
    [
        "",
        "7",
        "x",
        " 2[]",
        "2{}",  # an EVENT needs a list
        "2[]",  # ... with an event name
        '2"e"',
        "2[true]",
        "2[null]",
        '2[["e"]]',
        '2["e"',  # not JSON
        '2["e"]x',
        "0[]",  # CONNECT data is an object
        '0"token"',
        "1{}",  # DISCONNECT carries nothing
        "1/admin,[]",
        "4",  # CONNECT_ERROR needs a message
        "4[1]",
        "3/admin,1{}",  # ACK data is a list
        "2[NaN]",
    ],
)
def test_invalid_packets_are_rejected(wire: str) -> None:
    with pytest.raises(SocketIOParseError):
        decode(wire)


# ----- properties ---------------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(),
    st.binary(max_size=16),
)
_keys = st.text(max_size=8).filter(lambda key: key != "_placeholder")
_values = st.recursive(
    _scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_keys, children, max_size=4),
    max_leaves=16,
)
_namespaces = st.just("/") | st.from_regex(r"/[a-zA-Z0-9_\-/.]{1,16}", fullmatch=True)
_event_names = st.text(min_size=1, max_size=12).filter(lambda name: name not in RESERVED_EVENTS)
_ack_ids = st.integers(0, MAX_ACK_ID)


def round_trip(packet: Packet) -> Packet:
    """encode -> decode -> reconstruct, as a peer would."""
    text, *binary = encode(packet)
    assert all(isinstance(frame, bytes) for frame in binary)
    decoded = decode(text)
    assert decoded.attachments == len(binary)
    if binary:
        decoded.data = reconstruct(decoded.data, binary)
    return decoded


@settings(max_examples=200)
@given(_namespaces, _event_names, st.lists(_values, max_size=4), st.none() | _ack_ids)
def test_event_round_trip(namespace: str, event: str, args: list[Any], ack_id: int | None) -> None:
    data = [event, *args]
    decoded = round_trip(Packet(EVENT, namespace, data, ack_id))
    assert decoded.type is (BINARY_EVENT if has_binary(data) else EVENT)
    assert (decoded.namespace, decoded.id, decoded.data) == (namespace, ack_id, data)


@settings(max_examples=200)
@given(_namespaces, _event_names, st.lists(_values, max_size=4))
def test_the_event_fast_path_encodes_as_encode_does(
    namespace: str, event: str, args: list[Any]
) -> None:
    data = [event, *args]
    text = encode_event_text(namespace, data)
    if has_binary(data):
        assert text is None  # left to encode: a binary event
    else:
        assert [text] == encode(Packet(EVENT, namespace, data))


@settings(max_examples=200)
@given(_namespaces, st.lists(_values, max_size=4), _ack_ids)
def test_ack_round_trip(namespace: str, args: list[Any], ack_id: int) -> None:
    decoded = round_trip(Packet(ACK, namespace, args, ack_id))
    assert decoded.type is (BINARY_ACK if has_binary(args) else ACK)
    assert (decoded.namespace, decoded.id, decoded.data) == (namespace, ack_id, args)


@given(_namespaces, st.none() | st.dictionaries(_keys, _values.filter(lambda v: not has_binary(v))))
def test_connect_round_trip(namespace: str, auth: dict[str, Any] | None) -> None:
    decoded = round_trip(Packet(PacketType.CONNECT, namespace, auth))
    assert (decoded.type, decoded.namespace, decoded.data) == (
        PacketType.CONNECT,
        namespace,
        auth,
    )


_any_text = st.text(st.characters(exclude_categories=()))  # surrogates included
_json_texts = _values.map(lambda v: json.dumps(v, default=lambda b: list(b)))
_packetish = st.tuples(
    st.sampled_from("0123456789"),
    st.sampled_from(["", "1-", "2-", "0-", "-", "99-", "/ns,", "/ns", "/ns?x=1,", "1", "42"]),
    st.sampled_from(["", "/a,", "7", MAX_ACK_ID.__str__(), "1" * 20]),
    st.one_of(_any_text, _json_texts, _json_texts.map(lambda t: f'["e",{t}]')),
).map("".join)


@settings(max_examples=500)
@given(st.one_of(_any_text, _packetish))
def test_garbage_only_ever_raises_the_parse_error(text: str) -> None:
    try:
        packet = decode(text)
    except SocketIOParseError:
        return
    assert isinstance(packet.type, PacketType)
    if packet.attachments:
        with contextlib.suppress(SocketIOParseError):
            reconstruct(packet.data, [b"x"] * packet.attachments)
