"""`bench/restpath.py`: the Python CPU of one REST emit, in-process, without syscalls.

The REST-only runs move by ±5 % from run to run on the bench machine, more than most single
changes to the emit's path are worth. This runs the real application (bench settings) behind
the uvicorn worker's HTTP protocol (realtime.httpprotocol), over transports that only count
their writes, `--connections` keep-alive connections each sending the load generator's
request to its own user, whose room holds a stand-in socket that counts its deliveries. What
it prints is the process CPU per request: the parse, the fast path's checks, the emit, the
answer, with none of the kernel's or the clients' work. `--profile` adds cProfile's top
functions (slower: compare its proportions, not its times).

    .venv/bin/python bench/restpath.py [--requests 200000] [--profile]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
NAMESPACE = "/v1/conversation"  # the bench namespace (config.bench)
BODY = b'{"sentAt":1234567.123,"seq":12345}'  # the load generator's, in size and shape


class CountingTransport(asyncio.Transport):
    """A connection's transport: counts and keeps the last write, closes when asked."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0
        self.last = b""
        self.closing = False

    def write(self, data: Any) -> None:
        self.writes += 1
        self.last = bytes(data)

    def is_closing(self) -> bool:
        return self.closing

    def close(self) -> None:
        self.closing = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return {"sockname": ("127.0.0.1", 4000), "peername": ("127.0.0.1", 50000)}.get(
            name, default
        )

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


class StandInSocket:
    """A socket in a user's room, as the hub sees one: it counts what it is given."""

    sid = "stand-in"

    def __init__(self) -> None:
        self.delivered = 0

    def deliver(self, frames: list[str | bytes]) -> None:
        self.delivered += 1


def emit_request(user: int) -> bytes:
    """The load generator's REST request (bench/loadgen/worker.mjs, httpclient.mjs)."""
    head = (
        b"POST /emit/%d/bench?namespace=conversation HTTP/1.1\r\nHost: 127.0.0.1:4000\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    )
    return head % (user, len(BODY)) + BODY


async def measure(requests: int, connections: int, profile: bool) -> dict[str, Any]:
    """Run `requests` emits, `connections` at a time (one loop turn reads them all, the next
    answers them, as under load); the CPU per request and what was written and delivered."""
    from uvicorn.server import ServerState

    from realtime.asgiservers import uvicorn_config
    from realtime.httpprotocol import HttpProtocol
    from realtime.hub import get_hub

    config = uvicorn_config(fd=0)  # the worker's configuration; nothing is listened on
    config.load()
    state = ServerState()
    sockets = [StandInSocket() for _ in range(connections)]
    pairs = []
    for user, socket in enumerate(sockets):
        get_hub().rooms[(NAMESPACE, f"user:{user}")].add(socket)  # type: ignore[arg-type]
        protocol = HttpProtocol(config=config, server_state=state, app_state={})
        transport = CountingTransport()
        protocol.connection_made(transport)
        pairs.append((protocol, transport, emit_request(user)))

    async def rounds(count: int) -> None:
        for _ in range(count):
            for protocol, _, request in pairs:
                protocol.data_received(request)
            await asyncio.sleep(0)  # the answers' turn
            await asyncio.sleep(0)  # the frames' flush

    await rounds(max(1, 2000 // connections))  # warm: caches, the hub bound to this loop
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    count = max(1, requests // connections)
    started = time.process_time()
    await rounds(count)
    spent = time.process_time() - started
    if profiler is not None:
        import pstats

        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    done = count * connections
    return {
        "requests": done,
        "us_per_request": 1e6 * spent / done,
        "answers_written": sum(transport.writes for _, transport, _ in pairs),
        "delivered": sum(socket.delivered for socket in sockets),
        "last_answer": pairs[0][1].last.decode("latin-1"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200_000)
    parser.add_argument("--connections", type=int, default=32, help="as the bench's lanes")
    parser.add_argument("--profile", action="store_true", help="cProfile's top functions too")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.bench")
    os.environ.setdefault("SQLITE_PATH", str(Path(tempfile.mkdtemp()) / "restpath.sqlite3"))
    import django
    import uvloop

    django.setup()
    result = uvloop.run(measure(args.requests, args.connections, args.profile))
    print(f"{result['us_per_request']:.2f} µs of CPU a request ({result['requests']} requests)")
    print(f"answers written: {result['answers_written']}, deliveries: {result['delivered']}")
    print("last answer:", result["last_answer"].splitlines()[0])
    return 0


if __name__ == "__main__":
    sys.exit(main())
