"""Fuzz cases over a raw WebSocket: malformed, truncated, mutated, oversized, out-of-order and
wrong-namespace Engine.IO / Socket.IO frames, bad handshakes, upgrade probes out of order."""

from __future__ import annotations

import json
import random
import time

import httpx
import jwt

from realtime.socketio.packets import MAX_DEPTH

from .wire import (
    IGNORED,
    Target,
    Unclean,
    connect_frame,
    fuzz_socket,
    probe,
    read_until,
    recv,
    wire_json,
    ws_connect_error,
    ws_either,
    ws_harmless,
    ws_violation,
)

PLACEHOLDER = '{"_placeholder":true,"num":%d}'
WRONG_SECRET = "not-the-secret-but-long-enough-for-hs256-0123456789"
NOT_AUTHENTICATED = {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}}

# Engine.IO frames a client may never send
ENGINE_BAD = ["", "7", "8x", "9", "0", '0{"sid":"x"}', "5", "2", "2probe", "a", "\x00", " 4", "-1"]
# Socket.IO packets (after the Engine.IO "4") that do not parse or may not come from a client
SOCKETIO_BAD = [
    "",
    "x",
    "7",
    "8{ns},",
    "2",
    "2{ns},",
    "2{ns},{{}}",
    '2{ns},"text"',
    "2{ns},[]",
    "2{ns},[null]",
    '2{ns},[{{"a":1}}]',
    '2{ns},["connect"]',
    '2{ns},["disconnect"]',
    '2{ns},["newListener"]',
    "3{ns},[]",
    "3{ns},1",
    "3{ns},1{{}}",
    "1{ns},{{}}",
    '4{ns},{{"message":"from a client"}}',
    '2{ns},1["echo"',
    '2{ns},1["echo",]',
    "2{ns},1[1e999]",
    '2{ns},1["echo",NaN]',
    '50-{ns},["echo"]',
    '5-{ns},["echo"]',
    '5999-{ns},["echo"]',
    '5a-{ns},["echo"]',
    '2{ns},99999999999999999999["echo"]',
    '0{ns},"auth as a string"',
    "0{ns},[1]",
    "0{ns},5",
]
MUTATION_ALPHABET = '[]{}",:-/0123456789x\x1e\x00é\\'


def _ns(target: Target) -> str:
    return target.fuzz_ns + ","


def templates(target: Target) -> list[str]:
    """Valid packets on the fuzzed namespace, to cut and mutate."""
    ns = target.fuzz_ns
    packets = [
        connect_frame(ns, target.fuzz_auth or {"a": [1, 2]}),
        f'42{ns},1["echo",{{"a":[1,"two",null]}}]',
        f"451-{ns},2" + wire_json(["echo", {"blob": None}]).replace("null", PLACEHOLDER % 0),
        f"43{ns},5[1,2]",
        f"41{ns},",
    ]
    if not target.echoes:  # the product's events (the test namespace's handlers take any input
        # on trust: a `join` with an object would raise, logged as the test handler's own bug)
        packets += [
            f'42{ns},["join",{{"job_id":"j1"}}]',
            f'42{ns},3["list_conversation",{{"page":1,"limit":5}}]',
        ]
    return packets


def mutate(text: str, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        if not text:
            break
        at = rng.randrange(len(text))
        op = rng.randrange(5)
        if op == 0:  # delete
            text = text[:at] + text[at + 1 :]
        elif op == 1:  # insert
            text = text[:at] + rng.choice(MUTATION_ALPHABET) + text[at:]
        elif op == 2:  # replace
            text = text[:at] + rng.choice(MUTATION_ALPHABET) + text[at + 1 :]
        elif op == 3:  # duplicate a slice
            end = min(len(text), at + rng.randint(1, 8))
            text = text[:end] + text[at:end] + text[end:]
        else:  # swap two characters
            other = rng.randrange(len(text))
            chars = list(text)
            chars[at], chars[other] = chars[other], chars[at]
            text = "".join(chars)
    return text


def random_text(rng: random.Random, size: int) -> str:
    picks = ((rng.randrange(32, 127), rng.randrange(0x80, 0x3000)) for _ in range(size))
    return "".join(chr(rng.choice(pair)) for pair in picks)


# ----- malformed and truncated ---------------------------------------------------------------


async def engine_garbage(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    if rng.random() < 0.7:
        frame = rng.choice(ENGINE_BAD)
    else:  # random text whose first character is no packet type
        frame = rng.choice("789abcXYZ{[ ") + random_text(rng, rng.randint(0, 40))
    return await ws_violation(target, [frame], connected=rng.random() < 0.5)


async def socketio_garbage(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    packet = rng.choice(SOCKETIO_BAD).format(ns=_ns(target))
    return await ws_violation(target, ["4" + packet])


async def truncated(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    packet = rng.choice(templates(target))
    return await ws_either(target, [packet[: rng.randrange(1, len(packet))]])


async def mutated(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    return await ws_either(target, [mutate(rng.choice(templates(target)), rng)])


async def random_frames(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    if rng.random() < 0.5:  # random bytes: a binary frame nobody announced
        blob = rng.randbytes(rng.randint(0, 256))
        return await ws_violation(target, [blob], connected=rng.random() < 0.5)
    return await ws_either(target, [random_text(rng, rng.randint(1, 200))])


async def oversized(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    size = target.max_payload + rng.randint(1, 4096)
    if rng.random() < 0.5:
        frame: str | bytes = f'42{target.fuzz_ns},["echo","' + "x" * size + '"]'
    else:
        frame = rng.randbytes(16) * (size // 16 + 1)
    return await ws_violation(target, [frame], connected=rng.random() < 0.7)


async def deep_nesting(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """Arguments nested up to MAX_DEPTH are served; deeper is a violation (orjson alone would
    parse 1024 levels, too deep for any Python code that walks the data)."""
    depth = rng.choice([10, 50, MAX_DEPTH - 2, MAX_DEPTH, 200, 990, 1000, 1020, 1030, 3000])
    nested = "[" * depth + "1" + "]" * depth
    frames: list[str | bytes] = [f'42{target.fuzz_ns},7["echo",{nested}]']
    if depth + 1 > MAX_DEPTH:  # the event's own list is one more level
        return await ws_violation(target, frames)
    return await ws_harmless(target, frames)


async def after_close(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """CLOSE, then more frames: the session is over, nothing more is answered."""
    extra = [f'42{target.probe_ns},1["{target.probe_event}"]', connect_frame(target.probe_ns)]
    return await ws_violation(target, ["1", *rng.sample(extra, k=rng.randint(0, 2))])


# ----- binary attachments --------------------------------------------------------------------


async def binary_out_of_order(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    ns = target.fuzz_ns
    head = f"451-{ns},4" + wire_json(["echo", 0]).replace("0]", PLACEHOLDER % 0 + "]")
    variants: list[list[str | bytes]] = [
        [b"attachment first", head],  # binary before its header
        [head, f'42{ns},["echo"]'],  # text while the attachment is due
        [head, b"one", b"one too many"],
        [head.replace("451-", "452-"), b"a", f'42{ns},["echo"]'],
        [f"451-{ns},4" + wire_json(["echo", {"_placeholder": True, "num": 7}]), b"x"],
        [f"451-{ns},4" + wire_json(["echo", {"_placeholder": True, "num": -1}]), b"x"],
        [f"452-{ns},4" + wire_json(["echo", {"_placeholder": True, "num": "1"}]), b"a", b"b"],
    ]
    return await ws_violation(target, rng.choice(variants))


async def binary_any_order(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    """A valid binary event whose placeholders name the attachments in any order."""
    count = rng.randint(1, 5)
    order = list(range(count))
    rng.shuffle(order)
    blobs = [rng.randbytes(rng.randint(0, 64)) for _ in range(count)]
    ns = target.fuzz_ns
    args = ["echo", *({"_placeholder": True, "num": num} for num in order)]
    ws = await fuzz_socket(target)
    try:
        await ws.send(f"45{count}-{ns},9" + wire_json(args))
        for blob in blobs:
            await ws.send(blob)
        if target.echoes:
            prefix = f"46{count}-{ns},9"
            head = await read_until(ws, lambda f: isinstance(f, str) and f.startswith(prefix))
            expected = [{"_placeholder": True, "num": n} for n in range(count)]
            if json.loads(str(head)[len(prefix) :]) != expected:
                raise Unclean(f"binary ack {head!r}")
            echoed = [await recv(ws) for _ in range(count)]
            if echoed != [blobs[num] for num in order]:
                raise Unclean("binary attachments echoed out of order")
        await probe(ws, target)
        return IGNORED
    finally:
        await ws.close()


# ----- namespaces and credentials --------------------------------------------------------------


async def wrong_namespace(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    unknown = rng.choice(
        ["/nope", "/v2/conversation", "/" + "n" * 300, "/ü", "/test/..", "//", "/a?b=c", "/x y"]
    )
    if rng.random() < 0.4:
        answered_as = unknown.split("?")[0]  # the query part of a namespace is not its name
        expected = {"message": "Invalid namespace"}
        return await ws_connect_error(target, connect_frame(unknown), answered_as, expected)
    # packets for namespaces this connection never joined: ignored
    ns = rng.choice([unknown, target.auth_ns, target.probe_ns + "x"])
    frames: list[str | bytes] = rng.choice(
        [
            [f'42{ns},1["echo","x"]'],
            [f"43{ns},1[1]"],
            [f"41{ns},"],
            [f"451-{ns},1" + wire_json(["echo", {"_placeholder": True, "num": 0}]), b"blob"],
        ]
    )
    return await ws_harmless(target, frames, connected=rng.random() < 0.5)


def _bad_auth(rng: random.Random) -> dict[str, object]:
    now = int(time.time())
    claims = {"uid": "fuzz", "account_id": "a", "scope": "conversation", "exp": now + 60}
    return rng.choice(
        [
            {},
            {"token": ""},
            {"token": random_text(rng, rng.randint(1, 60))},
            {"token": 12},
            {"token": ["a"]},
            {"token": {"a": 1}},
            {"token": "x" * 20_000},
            {"token": "a.b.c"},
            {"token": jwt.encode(claims, "", algorithm="none")},
            {
                "token": jwt.encode(
                    claims, "not-the-secret-but-long-enough-for-hs256-0123456789", algorithm="HS256"
                )
            },
            {
                "token": jwt.encode(
                    {**claims, "exp": now - 3600},
                    "not-the-secret-but-long-enough-for-hs256-0123456789",
                )
            },
            {"session_id": random_text(rng, 20)},
            {"session_id": 7},
            {"session_id": "s" * 1000},
            {"token": "letmeout"},
        ]
    )


async def bad_credentials(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    frame = (
        connect_frame(target.auth_ns, _bad_auth(rng))
        if rng.random() < 0.9
        else (connect_frame(target.auth_ns))
    )
    return await ws_connect_error(target, frame, target.auth_ns, NOT_AUTHENTICATED)


async def harmless_noise(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    ns = target.fuzz_ns
    frames: list[str | bytes] = rng.choice(
        [
            ["3"],  # a PONG nobody asked for
            ["6"],
            ["3probe"],
            [f"43{ns},{rng.randrange(10**6)}[1]"],  # an ack for an id never used
            [connect_frame(ns, target.fuzz_auth)],  # a repeated CONNECT
            [f'42{ns},["no_such_event",1]'],
            [f'42{ns},{rng.randrange(100)}["no_such_event"]'],
        ]
    )
    return await ws_harmless(target, frames * rng.randint(1, 3))


WS_CASES = {
    "ws-engine-garbage": (engine_garbage, 3),
    "ws-socketio-garbage": (socketio_garbage, 4),
    "ws-truncated": (truncated, 4),
    "ws-mutated": (mutated, 5),
    "ws-random-frames": (random_frames, 3),
    "ws-oversized": (oversized, 1),
    "ws-deep-nesting": (deep_nesting, 1),
    "ws-after-close": (after_close, 1),
    "ws-binary-out-of-order": (binary_out_of_order, 3),
    "ws-binary-any-order": (binary_any_order, 2),
    "ws-wrong-namespace": (wrong_namespace, 3),
    "ws-bad-credentials": (bad_credentials, 2),
    "ws-harmless-noise": (harmless_noise, 2),
}
