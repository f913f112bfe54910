"""Reference server: the bench workload (bench/README.md) on python-socketio 5.x and uvicorn,
with AsyncRedisManager when REDIS_URL is set.  python server.py <port>"""

import json
import os
import sys
from urllib.parse import unquote

import socketio
import uvicorn

NS = "/v1/conversation"
REDIS_URL = os.environ.get("REDIS_URL")

sio = socketio.AsyncServer(
    async_mode="asgi",
    cors_allowed_origins="*",
    client_manager=socketio.AsyncRedisManager(REDIS_URL) if REDIS_URL else None,
    ping_interval=25,
    ping_timeout=20,
)


@sio.on("connect", namespace=NS)
async def connect(sid, environ, auth):
    token = auth.get("token") if isinstance(auth, dict) else None
    if not token:
        raise socketio.exceptions.ConnectionRefusedError("NOT_AUTHENTICATED")
    await sio.enter_room(sid, f"user:{token}", namespace=NS)


@sio.on("join", namespace=NS)
async def join(sid, payload):
    await sio.enter_room(sid, payload["room"], namespace=NS)
    return {"ok": True}


@sio.on("message", namespace=NS)
async def message(sid, payload):
    await sio.emit("message", payload, room=payload["room"], namespace=NS)


async def send(send_, status, body):
    headers = [(b"content-type", b"application/json")]
    await send_({"type": "http.response.start", "status": status, "headers": headers})
    await send_({"type": "http.response.body", "body": body})


async def rest(scope, receive, send_):
    """POST /emit/<userId>/<event>: the body goes to room user:<userId>."""
    if scope["type"] == "lifespan":
        while True:
            event = (await receive())["type"]  # lifespan.startup, then lifespan.shutdown
            await send_({"type": event + ".complete"})
            if event == "lifespan.shutdown":
                return
    parts = scope["path"].split("/")
    if scope["path"].startswith("/status"):
        return await send(send_, 200, b'{"success":true}')
    if scope["method"] != "POST" or len(parts) != 4 or parts[1] != "emit":
        return await send(send_, 404, b"{}")
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    payload = json.loads(body) if body else {}
    await sio.emit(unquote(parts[3]), payload, room=f"user:{unquote(parts[2])}", namespace=NS)
    await send(send_, 200, b'{"success":true,"message":"SUCCESS"}')


app = socketio.ASGIApp(sio, other_asgi_app=rest)

if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 4000
    uvicorn.run(app, host="127.0.0.1", port=port, loop="uvloop", log_level="warning")
