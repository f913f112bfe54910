"""Plain ASGI HTTP plumbing for the long-polling transport: answers, bodies, disconnects."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..jsoncodec import dumps
from .errors import HandshakeError

TEXT = b"text/plain; charset=UTF-8"
JSON = b"application/json"


class BodyTooLarge(Exception):
    pass


class ClientGone(Exception):
    pass


@dataclass(frozen=True, slots=True)
class HttpAnswer:
    status: int
    body: bytes = b""
    content_type: bytes | None = None

    @classmethod
    def text(cls, body: str) -> HttpAnswer:
        return cls(200, body.encode(), TEXT)

    @classmethod
    def error(cls, error: HandshakeError) -> HttpAnswer:
        body = dumps({"code": int(error), "message": error.message}).encode()
        return cls(error.status, body, JSON)


async def respond(send: Any, answer: HttpAnswer, extra_headers: list) -> None:
    headers = list(extra_headers)
    if answer.content_type is not None:
        headers.append((b"content-type", answer.content_type))
    headers.append((b"content-length", str(len(answer.body)).encode()))
    await send({"type": "http.response.start", "status": answer.status, "headers": headers})
    await send({"type": "http.response.body", "body": answer.body})


async def read_body(receive: Any, limit: int) -> bytes:
    """The whole request body; BodyTooLarge past `limit`, ClientGone if the client left."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge()
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def wait_disconnect(receive: Any) -> None:
    """Returns when the client closes the request (the body has been read or was empty)."""
    while (await receive())["type"] != "http.disconnect":
        pass
