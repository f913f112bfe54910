"""HTTP/1.1 answers read off a socket, as a client reads them (Content-Length or chunked)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

WAIT_S = 5.0


@dataclass
class WireAnswer:
    status: int
    headers: list[tuple[bytes, bytes]]  # lower-case names, in the order written
    body: bytes

    def header(self, name: bytes) -> bytes | None:
        return next((value for key, value in self.headers if key == name), None)


def request(
    method: str, target: str, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
) -> bytes:
    """A request's bytes: Host and Content-Length added unless `headers` has them."""
    headers = list(headers if headers is not None else [])
    names = {name.lower() for name, _ in headers}
    if b"host" not in names:
        headers.insert(0, (b"host", b"127.0.0.1"))
    if b"content-length" not in names and b"transfer-encoding" not in names:
        headers.append((b"content-length", b"%d" % len(body)))
    lines = [f"{method} {target} HTTP/1.1".encode()]
    lines += [name + b": " + value for name, value in headers]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


async def read_answer(reader: asyncio.StreamReader) -> WireAnswer:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT_S)
    status_line, *lines = head[:-4].split(b"\r\n")
    headers = []
    for line in lines:
        name, _, value = line.partition(b":")
        headers.append((name.strip().lower(), value.strip()))
    answer = WireAnswer(int(status_line.split()[1]), headers, b"")
    if answer.header(b"transfer-encoding") == b"chunked":
        answer.body = await _read_chunked(reader)
    elif (length := answer.header(b"content-length")) is not None:
        answer.body = await asyncio.wait_for(reader.readexactly(int(length)), WAIT_S)
    return answer


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    chunks = []
    while True:
        size = int((await asyncio.wait_for(reader.readuntil(b"\r\n"), WAIT_S))[:-2], 16)
        chunk = await asyncio.wait_for(reader.readexactly(size + 2), WAIT_S)
        if not size:
            return b"".join(chunks)
        chunks.append(chunk[:-2])
