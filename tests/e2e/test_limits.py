"""Hostile clients meet limits with clear errors: event floods, too many rooms, namespaces,
sockets per user and sessions per address. The server stays healthy for everyone else."""

from __future__ import annotations

import asyncio

import httpx
import websockets

from tests.support.clients import RecordingClient, websocket_url
from tests.support.tokens import user_token

SHARED = "/v1/shared"
LIMITS = {
    "THROTTLE_SOCKET_RATE": "20/s",
    "THROTTLE_USER_RATE": "1000/s",
    "THROTTLE_DISCONNECT_AFTER": "50",
    "MAX_SOCKETS_PER_USER": "3",
    "MAX_NAMESPACES_PER_CONNECTION": "2",
    "MAX_ROOMS_PER_SOCKET": "5",
    "MAX_CONNECTIONS_PER_IP": "40",
}


async def shared_client(server, uid: str) -> RecordingClient:
    client = RecordingClient(server.url, ["websocket"], [SHARED])
    return await client.connect({"token": user_token(uid)})


async def test_event_flood_is_rate_limited_then_disconnected(server_factory) -> None:
    server = server_factory(**LIMITS)
    client = await shared_client(server, "flooder")
    try:
        acks = await asyncio.gather(*(client.call(SHARED, "join", {}) for _ in range(40)))
        limited = [ack for ack in acks if ack.get("message") == "RATE_LIMITED"]
        assert 10 <= len(limited) <= 30, acks  # a burst of 20 passes, the rest is throttled
        assert all(
            ack == {"success": False, "errno": 429, "message": "RATE_LIMITED"} for ack in limited
        )
        # the bucket refills: after a pause the socket is served again
        await asyncio.sleep(1.0)
        assert (await client.call(SHARED, "join", {}))["success"] is True
        # persistent abuse: past THROTTLE_DISCONNECT_AFTER throttled events, disconnected
        for _ in range(150):
            await client.emit(SHARED, "join", {})
        reason = await client.next_disconnect(SHARED, timeout=10)
        assert reason in ("transport close", "transport error")
    finally:
        await client.close()
    # everyone else is still served
    other = await shared_client(server, "bystander")
    assert (await other.call(SHARED, "join", {}))["success"] is True
    await other.close()


async def test_sockets_per_user_are_capped(server_factory) -> None:
    server = server_factory(**LIMITS)
    clients = [await shared_client(server, "many-tabs") for _ in range(3)]
    fourth = RecordingClient(server.url, ["websocket"], [SHARED])
    try:
        try:
            await fourth.connect({"token": user_token("many-tabs")})
            raise AssertionError("a fourth socket of the user was accepted")
        except Exception:
            pass
        error = await fourth.connect_errors[SHARED].get()
        assert error == {"message": "TOO_MANY_CONNECTIONS", "data": {"errno": 429}}
        # closing one tab frees a place
        await clients.pop().close()
        await asyncio.sleep(0.2)
        clients.append(await shared_client(server, "many-tabs"))
    finally:
        for client in clients:
            await client.close()
        await fourth.close()


async def test_rooms_per_socket_are_capped(server_factory) -> None:
    server = server_factory("tests.support.settings_adapter", **LIMITS)
    client = await RecordingClient(server.url, ["websocket"], ["/test"]).connect()
    try:
        for n in range(5):
            await client.call("/test", "join", f"room-{n}")
        # the sixth join fails in the handler: the adapter's own error, no crash
        await client.emit("/test", "join", "room-5")
        whoami = await client.call("/test", "whoami")
        assert len(whoami["rooms"]) == 5
    finally:
        await client.close()


async def test_namespaces_per_connection_are_capped(server_factory) -> None:
    server = server_factory("tests.support.settings_adapter", **LIMITS)
    async with websockets.connect(websocket_url(server.url)) as ws:
        await ws.recv()
        for namespace in ("/test", "/other"):
            await ws.send(f"40{namespace},")
            reply = await ws.recv()
            while not reply.startswith(f"40{namespace},"):
                reply = await ws.recv()
        await ws.send("40/dyn-third,")
        reply = await ws.recv()
        while not reply.startswith("44"):
            reply = await ws.recv()
        assert reply == '44/dyn-third,{"message":"TOO_MANY_NAMESPACES","data":{"errno":429}}'
        # the connection itself is fine
        await ws.send('42/test,7["echo","still here"]')
        reply = await ws.recv()
        while not reply.startswith("43/test,7"):
            reply = await ws.recv()
        assert reply == '43/test,7["still here"]'


async def test_sessions_per_address_are_capped(server_factory) -> None:
    server = server_factory(**LIMITS)
    async with httpx.AsyncClient(base_url=server.url) as http:
        sessions = []
        for _ in range(40):
            response = await http.get("/socket.io/?EIO=4&transport=polling")
            assert response.status_code == 200
            sessions.append(response.text)
        refused = await http.get("/socket.io/?EIO=4&transport=polling")
        assert refused.status_code == 403
        assert refused.json() == {"code": 4, "message": "Forbidden"}
        try:
            async with websockets.connect(websocket_url(server.url)):
                raise AssertionError("a WebSocket session past the cap was accepted")
        except websockets.InvalidStatus as refusal:
            assert refusal.response.status_code == 403
        assert (await http.get("/status")).status_code == 200
