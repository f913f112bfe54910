"""Long-polling POST bodies, any at all, through the real `handle_polling` entry in memory:
a 200 `ok`, a 400 with the Engine.IO error body (the session closed) or a 413; a session that
is still open serves a CONNECT and an acked event right after; no socket is left behind."""

from __future__ import annotations

import base64
import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from realtime.engineio.packets import EngineIOParseError, decode_payload
from realtime.engineio.server import EngineServer
from realtime.engineio.session import SessionState
from tests.support.asgi_memory import PollingHarness, hub_sids, run_in_fresh_loop, settle

from .test_connection_hypothesis import MAX_ATTACHMENTS, MAX_PAYLOAD, handler_factory

_frames = st.one_of(
    st.sampled_from(
        ["40/test,{}", '42/test,1["echo",1]', "3", "6", "2", "5", "0", "4", "41/test,", "1"]
    ),
    st.text(max_size=20).map(lambda t: "4" + t),
    st.binary(max_size=12).map(lambda b: b),
)


def _payload(frames: list[str | bytes]) -> bytes:
    parts = [
        frame if isinstance(frame, str) else "b" + base64.b64encode(frame).decode()
        for frame in frames
    ]
    return "\x1e".join(parts).encode()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.lists(_frames, min_size=1, max_size=5).map(_payload),
        st.binary(max_size=64),
        st.text(max_size=64).map(str.encode),
        st.just(b"4" + b"y" * (MAX_PAYLOAD + 1)),
    )
)
# a CONNECT and a violation in one body: the transport closes while the socket still connects
@example(b"40/test,{}\x1e2")
def test_polling_post_bodies(body: bytes) -> None:
    async def scenario() -> None:
        before = hub_sids()
        server = EngineServer(handler_factory)
        client = PollingHarness(server)
        status, handshake = await client.request("GET", "EIO=4&transport=polling")
        assert status == 200
        sid = json.loads(handshake[1:])["sid"]
        session = server.sessions[sid]
        query = f"EIO=4&transport=polling&sid={sid}"
        status, answer = await client.request("POST", query, body)
        try:
            packets = decode_payload(body.decode("utf-8"))
        except (EngineIOParseError, UnicodeDecodeError):
            packets = None
        if len(body) > MAX_PAYLOAD:
            assert status == 413
            assert session.state is not SessionState.OPEN
        elif packets is None:
            assert (status, json.loads(answer)) == (400, {"code": 3, "message": "Bad request"})
            assert session.state is not SessionState.OPEN
        elif any(packet.type.name in ("OPEN", "UPGRADE", "PING") for packet in packets):
            # a packet the client may not send: refused (or ignored when an earlier packet
            # already ended the session); either way the session is over
            assert (status, answer) == (200, b"ok") or (
                status == 400 and json.loads(answer)["code"] == 3
            )
            assert session.state is not SessionState.OPEN
        else:
            assert (status, answer) == (200, b"ok")
        await settle()
        if session.is_open:
            # still usable: the next poll answers at once or after a CONNECT/echo
            status, answer = await client.request("POST", query, b'40/other,\x1e42/other,9["echo"]')
            assert (status, answer) == (200, b"ok")
            frames = b""
            for _ in range(5):  # the CONNECT ack and the welcome may come first
                status, got = await client.request("GET", query)
                assert status == 200, got
                frames += got
                if b"43/other,9[]" in frames:
                    break
            assert b"43/other,9[]" in frames, frames
            await client.request("POST", query, b"1")
        await settle()
        assert session.state is not SessionState.OPEN
        for leftover in list(server.sessions.values()):
            leftover.close("test over", notify_client=False)
        assert hub_sids() == before

    run_in_fresh_loop(scenario, MAX_PAYLOAD=MAX_PAYLOAD, MAX_ATTACHMENTS=MAX_ATTACHMENTS)
