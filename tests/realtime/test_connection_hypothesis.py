"""The consumer's packet handling under generated traffic: the real Engine.IO session and
Socket.IO connection, driven through the real WebSocket entry (`handle_websocket`) in memory
(tests.support.asgi_memory), with the test namespaces of `tests.support.namespaces`.

Sequences mix valid packets (CONNECT, events with and without acks, binary events whose
placeholders come in any order, acks for unknown ids, events to namespaces the client never
joined, namespace disconnects) with protocol violations. Whatever comes in: no exception
escapes, nothing is logged as an error, a violation closes the session at once (and nothing
is answered after it), valid traffic to a test namespace is answered, and every socket leaves
the process hub once its session is gone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from realtime.engineio.packets import EngineIOParseError, decode_packet
from realtime.engineio.server import EngineServer
from realtime.engineio.session import Session, SessionState
from realtime.socketio.connection import SocketIOConnection
from realtime.socketio.packets import SocketIOParseError
from realtime.socketio.packets import decode as sio_decode
from tests.support.asgi_memory import WebSocketHarness, hub_sids, run_in_fresh_loop, settle
from tests.support.namespaces import PRIVATE_TOKEN, router

MAX_PAYLOAD = 2_048
MAX_ATTACHMENTS = 4
CONNECTABLE = ("/test", "/other", "/dyn-abc")
NAMESPACES = (*CONNECTABLE, "/private", "/nope", "/", "/v1/unknown", "/dyn-ABC")


def handler_factory(session: Session) -> SocketIOConnection:
    return SocketIOConnection(session, router)


def ns_prefix(namespace: str) -> str:
    return "" if namespace == "/" else namespace + ","


# ----- generated steps ----------------------------------------------------------------------

_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53) + 1, 2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
_values = st.recursive(
    _scalars,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=8,
)
_namespaces = st.sampled_from(NAMESPACES)
_ack_ids = st.integers(0, 2**53 - 1)


@dataclass
class Step:
    kind: str
    namespace: str = "/test"
    ack_id: int | None = None
    args: list[Any] = field(default_factory=list)
    blobs: list[bytes] = field(default_factory=list)
    order: list[int] = field(default_factory=list)
    auth: Any = None
    raw: list[str | bytes] = field(default_factory=list)


def _connect_steps() -> st.SearchStrategy[Step]:
    auths = st.sampled_from(
        [None, {}, {"token": PRIVATE_TOKEN}, {"token": "wrong"}, {"refuse": "no"}, {"k": [1, 2]}]
    )
    return st.builds(Step, kind=st.just("connect"), namespace=_namespaces, auth=auths)


@st.composite
def _binary_steps(draw: st.DrawFn) -> Step:
    blobs = draw(st.lists(st.binary(max_size=24), min_size=1, max_size=MAX_ATTACHMENTS))
    order = draw(st.permutations(range(len(blobs))))
    return Step(
        "binary_event",
        draw(st.sampled_from(CONNECTABLE)),
        draw(st.none() | _ack_ids),
        blobs=blobs,
        order=list(order),
    )


_VIOLATIONS = [
    [""],  # an empty Engine.IO packet
    ["7"],
    ["9hello"],
    ["0"],  # OPEN from the client
    ["5"],  # UPGRADE outside a probe
    ["2"],  # PING from the client (v4 pings go server -> client)
    ["2probe"],
    ["4"],  # an empty Socket.IO packet
    ["4x"],
    ["47"],
    ["42/test,{}"],
    ['42/test,["connect"]'],  # a reserved event name
    ['42/test,[{"a":1}]'],  # an event name that is not a string or number
    ["43/test,[]"],  # an ACK without an id
    ['41/test,{"a":1}'],  # DISCONNECT with data
    ['44/test,{"message":"from the client"}'],  # CONNECT_ERROR from the client
    ['42/test,1["echo"'],  # truncated JSON
    ["42/test,1[1e400]"],  # not a finite number
    ['450-/test,["echo"]'],  # zero attachments announced
    ['4599-/test,["echo"]'],  # more attachments than allowed
    ['45-/test,["echo"]'],
    [b"\x00\x01unannounced"],  # a binary frame nobody announced
    ['451-/test,["echo",{"_placeholder":true,"num":0}]', '42/test,["echo"]'],  # text too early
    ['451-/test,["echo",{"_placeholder":true,"num":3}]', b"blob"],  # placeholder out of range
    ['452-/test,["echo",{"_placeholder":true,"num":"0"}]', b"a", b"b"],  # non-integer num
    ["4" + "x" * (MAX_PAYLOAD + 1)],  # over maxPayload
    [b"b" * (MAX_PAYLOAD + 1)],
]

_terminal = st.one_of(
    st.builds(Step, kind=st.just("violation"), raw=st.sampled_from(_VIOLATIONS)),
    st.builds(Step, kind=st.just("close"), raw=st.just(["1"])),
    st.builds(
        Step,
        kind=st.just("garbage"),
        raw=st.one_of(
            st.text(max_size=40).map(lambda t: [t]),
            st.text(max_size=40).map(lambda t: ["4" + t]),
            st.text(max_size=40).filter(lambda t: "fail" not in t).map(lambda t: ["42/test," + t]),
            st.binary(max_size=40).map(lambda b: [b]),
        ),
    ),
)

_steps = st.one_of(
    _connect_steps(),
    st.builds(
        Step,
        kind=st.just("event"),
        namespace=_namespaces,
        ack_id=st.none() | _ack_ids,
        args=st.lists(_values, max_size=3),
    ),
    _binary_steps(),
    st.builds(Step, kind=st.just("ack"), namespace=_namespaces, ack_id=_ack_ids),
    st.builds(Step, kind=st.just("unknown_event"), namespace=_namespaces, ack_id=_ack_ids),
    st.builds(
        Step,
        kind=st.just("join"),
        namespace=st.sampled_from(CONNECTABLE),
        ack_id=_ack_ids,
        args=st.lists(st.sampled_from(["r1", "r2", "lobby"]), min_size=1, max_size=1),
    ),
    st.builds(Step, kind=st.just("disconnect"), namespace=_namespaces),
    st.builds(Step, kind=st.just("kick"), namespace=st.sampled_from(CONNECTABLE)),
    st.builds(Step, kind=st.just("noise"), raw=st.sampled_from([["3"], ["6"], ["3probe"]])),
)

_sequences = st.tuples(st.lists(_steps, max_size=10), st.none() | _terminal)


# ----- the in-memory client -----------------------------------------------------------------


class Model:
    def __init__(self, client: WebSocketHarness, session: Session) -> None:
        self.client = client
        self.session = session
        self.connected: set[str] = set()

    async def run(self, step: Step) -> bool:
        """Send one step and check the answer; False once the session is meant to be over."""
        handler = getattr(self, "_" + step.kind)
        return await handler(step)

    async def _connect(self, step: Step) -> bool:
        ns = step.namespace
        self.client.send(
            "40" + ns_prefix(ns) + ("" if step.auth is None else json.dumps(step.auth))
        )
        if ns in self.connected:
            await self.client.quiet()  # a repeated CONNECT is ignored
            return True
        auth = step.auth or {}
        frame = await self.client.next_frame()
        if ns not in (*CONNECTABLE, "/private"):
            assert frame == "44" + ns_prefix(ns) + '{"message":"Invalid namespace"}', frame
        elif ns == "/private" and auth.get("token") != PRIVATE_TOKEN:
            assert frame == '44/private,{"message":"NOT_AUTHENTICATED","data":{"errno":401}}'
        elif auth.get("refuse"):
            expected = {"message": "REFUSED", "data": {"errno": 403, "why": "no"}}
            assert frame == f"44{ns}," + _json(expected), frame
        else:
            assert isinstance(frame, str) and frame.startswith(f"40{ns},"), frame
            sid = json.loads(frame[len(ns) + 3 :])["sid"]
            welcome = await self.client.next_frame()
            assert isinstance(welcome, str) and welcome.startswith(f'42{ns},["welcome",'), welcome
            assert json.loads(welcome[len(ns) + 3 :])[1]["sid"] == sid
            self.connected.add(ns)
        await self.client.quiet()
        return True

    async def _event(self, step: Step) -> bool:
        ns, ack = step.namespace, step.ack_id
        self.client.send(
            f"42{ns_prefix(ns)}{'' if ack is None else ack}" + _json(["echo", *step.args])
        )
        if ns in self.connected and ack is not None:
            frame = await self.client.next_frame()
            prefix = f"43{ns_prefix(ns)}{ack}"
            assert isinstance(frame, str) and frame.startswith(prefix), frame
            assert json.loads(frame[len(prefix) :]) == json.loads(_json(step.args))
        await self.client.quiet()
        return True

    async def _binary_event(self, step: Step) -> bool:
        ns, ack, blobs = step.namespace, step.ack_id, step.blobs
        args = ["echo", *({"_placeholder": True, "num": num} for num in step.order)]
        ack_text = "" if ack is None else str(ack)
        self.client.send(f"45{len(blobs)}-{ns},{ack_text}" + _json(args))
        for blob in blobs:
            self.client.send(blob)
        if ns in self.connected and ack is not None:
            frame = await self.client.next_frame()
            prefix = f"46{len(blobs)}-{ns},{ack}"
            assert isinstance(frame, str) and frame.startswith(prefix), frame
            placeholders = json.loads(frame[len(prefix) :])
            assert placeholders == [{"_placeholder": True, "num": n} for n in range(len(blobs))]
            echoed = [await self.client.next_frame() for _ in blobs]
            assert echoed == [blobs[num] for num in step.order]
        await self.client.quiet()
        return True

    async def _ack(self, step: Step) -> bool:
        # an ACK for an id the server never asked about: ignored
        self.client.send(f"43{ns_prefix(step.namespace)}{step.ack_id}[1]")
        await self.client.quiet()
        return True

    async def _unknown_event(self, step: Step) -> bool:
        # no handler: the test namespaces' default sends no ack
        self.client.send(f"42{ns_prefix(step.namespace)}{step.ack_id}" + '["no-such-event",{}]')
        await self.client.quiet()
        return True

    async def _join(self, step: Step) -> bool:
        ns, room = step.namespace, step.args[0]
        self.client.send(f"42{ns},{step.ack_id}" + _json(["join", room]))
        if ns in self.connected:
            frame = await self.client.next_frame()
            prefix = f"43{ns},{step.ack_id}"
            assert isinstance(frame, str) and frame.startswith(prefix), frame
            assert room in json.loads(frame[len(prefix) :])[0]
        await self.client.quiet()
        return True

    async def _disconnect(self, step: Step) -> bool:
        self.client.send("41" + ns_prefix(step.namespace))
        self.connected.discard(step.namespace)
        await self.client.quiet()
        return True

    async def _kick(self, step: Step) -> bool:
        ns = step.namespace
        self.client.send(f'42{ns},["kick"]')
        if ns in self.connected:
            assert await self.client.next_frame() == f"41{ns},"
            self.connected.discard(ns)
        await self.client.quiet()
        return True

    async def _noise(self, step: Step) -> bool:
        for frame in step.raw:  # PONG nobody asked for, NOOP: harmless
            self.client.send(frame)
        await self.client.quiet()
        return True

    async def _violation(self, step: Step) -> bool:
        for frame in step.raw:
            self.client.send(frame)
        await self.expect_closed()
        return False

    async def _close(self, step: Step) -> bool:
        return await self._violation(step)

    async def _garbage(self, step: Step) -> bool:
        for frame in step.raw:
            self.client.send(frame)
        await settle()
        if _is_violation(step.raw[0]):
            await self.expect_closed()
        return False  # a valid packet by chance: its answer is not modelled

    async def expect_closed(self) -> None:
        await settle()
        assert self.session.state is SessionState.CLOSED, self.session.state
        assert self.session.sid not in self.client.server.sessions
        assert self.client.closed
        # frames after the close are ignored
        answered = len(self.client.frames)
        self.client.send('42/test,1["echo"]')
        self.client.send("40/other,")
        await settle()
        assert len(self.client.frames) == answered

    async def still_serves(self) -> None:
        """Valid traffic to a test namespace is answered at the end of any open sequence."""
        if "/test" not in self.connected:
            await self._connect(Step("connect", "/test", auth={}))
        await self._event(Step("event", "/test", ack_id=424242, args=["still", {"here": True}]))


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _is_violation(frame: str | bytes) -> bool:
    """What the codecs refuse on a fresh connection is a protocol violation."""
    if isinstance(frame, bytes):
        return True  # no binary frame was announced
    if len(frame) > MAX_PAYLOAD:
        return True
    try:
        packet = decode_packet(frame)
    except EngineIOParseError:
        return True
    if packet.type.name in ("OPEN", "UPGRADE", "PING"):
        return True
    if packet.type.name != "MESSAGE":
        return packet.type.name == "CLOSE"  # CLOSE ends the session too
    try:
        decoded = sio_decode(str(packet.data), max_attachments=MAX_ATTACHMENTS)
    except SocketIOParseError:
        return True
    return decoded.type.name == "CONNECT_ERROR"


# ----- the properties -----------------------------------------------------------------------


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(_sequences)
def test_websocket_packet_sequences(sequence: tuple[list[Step], Step | None]) -> None:
    steps, terminal = sequence

    async def scenario() -> None:
        before = hub_sids()
        server = EngineServer(handler_factory)
        client = WebSocketHarness(server)
        session = await client.open()
        model = Model(client, session)
        alive = True
        for step in [*steps, *([terminal] if terminal else [])]:
            alive = await model.run(step)
            if not alive:
                break
        if alive:
            await model.still_serves()
            assert session.state is SessionState.OPEN
        await client.finish()
        await settle()
        assert session.state is SessionState.CLOSED
        assert server.sessions == {}
        assert hub_sids() == before, "a socket stayed in the hub after its session closed"

    run_in_fresh_loop(scenario, MAX_PAYLOAD=MAX_PAYLOAD, MAX_ATTACHMENTS=MAX_ATTACHMENTS)


# ----- long-polling: any POST body --------------------------------------------------------------
