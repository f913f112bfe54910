"""The bench workload (bench/README.md) on django-sio 0.2 (Channels): one consumer at
/v1/conversation, the REST emit beside it.  daphne asgi:application (cwd: this folder)."""

import json
import os
from urllib.parse import unquote

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django

django.setup()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from sio import SocketIOConsumer  # noqa: E402
from sio.socketio import get_socketio_server  # noqa: E402

NS = "/v1/conversation"


class BenchConsumer(SocketIOConsumer):
    namespace = NS

    async def connect(self, socket, auth):
        token = auth.get("token") if isinstance(auth, dict) else None
        if not token:
            return False
        await socket.join(f"user:{token}")
        return True

    async def event_join(self, socket, payload, ack=None):
        await socket.join(payload["room"])
        if ack is not None:
            await ack({"ok": True})

    async def event_message(self, socket, payload, ack=None):
        await get_socketio_server().emit("message", payload, room=payload["room"], namespace=NS)


async def respond(send, status, body):
    headers = [(b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def rest(scope, receive, send):
    """POST /emit/<userId>/<event>: the body goes to room user:<userId>."""
    parts = scope["path"].split("/")
    if scope["path"].startswith("/status"):
        return await respond(send, 200, b'{"success":true}')
    if scope["method"] != "POST" or len(parts) != 4 or parts[1] != "emit":
        return await respond(send, 404, b"{}")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.loads(body) if body else {}
    await get_socketio_server().emit(
        unquote(parts[3]), payload, room=f"user:{unquote(parts[2])}", namespace=NS
    )
    await respond(send, 200, b'{"success":true,"message":"SUCCESS"}')


socketio_app = BenchConsumer.as_asgi()


async def http(scope, receive, send):
    if scope["path"].startswith("/socket.io/"):
        return await socketio_app(scope, receive, send)
    return await rest(scope, receive, send)


application = ProtocolTypeRouter({"http": http, "websocket": socketio_app})
