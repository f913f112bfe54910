"""The stock socket.io-client (Node), driven from a test: tests/node/driver.mjs runs the sockets,
this side sends it commands and queues what each socket reports."""

from __future__ import annotations

import asyncio
import json
import shutil
from collections import defaultdict
from pathlib import Path
from typing import Any

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
DRIVER = NODE_DIR / "driver.mjs"
TIMEOUT = 10.0


class NodeClients:
    """One node process holding any number of socket.io-client sockets, each named by an id.

    Every report (connect, upgrade, event, ack, disconnect, ...) is queued per socket and kind,
    so a test reads them in order without missing one that came early.
    """

    def __init__(self) -> None:
        self.process: asyncio.subprocess.Process | None = None
        self.queues: dict[tuple[str, str], asyncio.Queue[dict[str, Any]]] = defaultdict(
            asyncio.Queue
        )
        self.reader: asyncio.Task[None] | None = None
        self.failures: list[str] = []
        self.log: list[dict[str, Any]] = []  # every report, in order
        self._acks = 0

    async def start(self) -> NodeClients:
        node = shutil.which("node")
        assert node is not None, "node is not installed"
        assert (NODE_DIR / "node_modules" / "socket.io-client").is_dir(), "npm ci in tests/node"
        self.process = await asyncio.create_subprocess_exec(
            node,
            str(DRIVER),
            cwd=NODE_DIR,
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            limit=16 * 1024 * 1024,
        )
        self.reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        async for line in self.process.stdout:
            report = json.loads(line)
            self.log.append(report)
            if report["type"] == "failure":
                self.failures.append(report["message"])
            key = report["type"]
            if key == "event":
                key = report["event"]
            elif key == "ack":  # concurrent calls: each waits for its own
                key = f"ack:{report['ack']}"
            self.queues[(report.get("id"), key)].put_nowait(report)

    async def _send(self, command: dict[str, Any]) -> None:
        assert self.process is not None and self.process.stdin is not None
        assert not self.failures, self.failures
        self.process.stdin.write((json.dumps(command) + "\n").encode())
        await self.process.stdin.drain()

    async def open(self, id: str, url: str, **options: Any) -> dict[str, Any]:
        """Open socket `id` on `url` (base URL + namespace) and wait for its connect report."""
        await self._send({"op": "open", "id": id, "url": url, "options": options})
        return await self.next(id, "connect")

    async def call(self, id: str, event: str, *args: Any, timeout: float = TIMEOUT) -> list[Any]:
        """Emit with an ack; the ack's arguments."""
        self._acks += 1
        number = self._acks
        await self._send({"op": "emit", "id": id, "event": event, "args": args, "ack": number})
        report = await self.next(id, f"ack:{number}", timeout)
        assert "error" not in report, f"{id}: {event}: {report['error']}"
        return report["args"]

    async def emit(self, id: str, event: str, *args: Any) -> None:
        await self._send({"op": "emit", "id": id, "event": event, "args": args})

    async def next(self, id: str, kind: str, timeout: float = TIMEOUT) -> dict[str, Any]:
        """The next report of `kind` (connect, upgrade, disconnect, an event name, ...)."""
        try:
            return await asyncio.wait_for(self.queues[(id, kind)].get(), timeout)
        except TimeoutError:
            seen = [r for r in self.log if r.get("id") == id][-12:]
            raise AssertionError(f"{id}: no {kind!r} within {timeout} s; last: {seen}") from None

    async def next_event(self, id: str, event: str, timeout: float = TIMEOUT) -> list[Any]:
        """The arguments of the next `event` socket `id` receives."""
        return (await self.next(id, event, timeout))["args"]

    def pending(self, id: str, kind: str) -> list[dict[str, Any]]:
        """Every report of `kind` received and not yet taken."""
        queue = self.queues[(id, kind)]
        return [queue.get_nowait() for _ in range(queue.qsize())]

    async def close(self, id: str) -> None:
        await self._send({"op": "close", "id": id})

    def forget(self, id: str) -> None:
        """Drop every report of socket `id` not yet taken (before reusing the id)."""
        for key in [key for key in self.queues if key[0] == id]:
            del self.queues[key]

    async def stop(self) -> None:
        if self.process is None:
            return
        if self.process.returncode is None:
            assert self.process.stdin is not None
            try:
                self.process.stdin.write(b'{"op":"exit"}\n')
                await self.process.stdin.drain()
                await asyncio.wait_for(self.process.wait(), 5)
            except (TimeoutError, ConnectionError):
                self.process.kill()
                await self.process.wait()
        if self.reader is not None:
            self.reader.cancel()
        self.process = None
