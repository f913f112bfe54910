"""The stock socket.io-client (Node) against a real server: tests/node/adapter_check.mjs runs
the core checks and prints what it saw as JSON; this test asserts on it."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.support.servers import ServerProcess

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
SCRIPT = NODE_DIR / "adapter_check.mjs"


async def run_node(url: str, mode: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None, "node is not installed"
    assert (NODE_DIR / "node_modules" / "socket.io-client").is_dir(), "run npm ci in tests/node"
    process = await asyncio.create_subprocess_exec(
        node,
        str(SCRIPT),
        url,
        mode,
        cwd=NODE_DIR,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 0, (stdout + stderr).decode(errors="replace")
    return json.loads(stdout.decode().strip().splitlines()[-1])


def hexed(data: bytes) -> dict[str, str]:
    return {"$hex": data.hex()}


@pytest.mark.parametrize("mode", ["websocket", "polling-upgrade", "polling"])
async def test_socket_io_client(adapter_server: ServerProcess, mode: str) -> None:
    seen = await run_node(adapter_server.url, mode)

    # connect with auth, two namespaces on one connection
    assert seen["welcome"]["auth"] == {"name": "ana", "n": 1}
    assert seen["welcome"]["namespace"] == "/test"
    assert seen["welcomeSidIsSocketId"] is True
    assert seen["oneConnection"] is True
    assert seen["otherWhoami"]["namespace"] == "/other"
    assert seen["otherWhoami"]["auth"] == {"name": "ana"}
    assert seen["otherSidIsSocketId"] is True
    assert seen["transport"] == ("polling" if mode == "polling" else "websocket")
    assert seen["refused"] == {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}}

    # events and acks both ways
    assert seen["echoAck"] == ["a", 1, {"x": [1, None]}, [True]]
    assert seen["echoCut"] == ["thumbs \ufffd", {"ok": 1}]  # read as U+FFFD, still connected
    assert seen["echoed"] == ["hi", {"n": 2}]
    assert seen["serverAck"] == [{"answer": [42, "sum"]}]

    # binary both ways, nested
    assert seen["binaryAck"] == [
        hexed(b"\x00\x01\xff"),
        {"deep": [{"b": hexed(b"abc")}]},
        "t",
    ]
    assert seen["binaryEvent"] == [{"file": hexed(b"\x09\x08")}, hexed(b"z")]
    assert seen["binaryServerAck"] == [
        {"answer": [{"got": hexed(b"\x03\x02\x01"), "meta": {"k": [hexed(b"\xff")]}}]}
    ]

    # rooms, with and without the sender; a broadcast through realtime.emit
    room = seen["anaJoin"][0][0]
    assert room.startswith("node-room-") and seen["bobJoin"] == [[room]]
    ana = seen["anaSid"]
    assert seen["bobSaid"] == [{"from": ana, "data": 1}, {"from": ana, "data": 2}]
    assert seen["anaSaid"] == {"from": ana, "data": 2}
    assert seen["anaPendingSaid"] == 0
    assert seen["broadcast"] == [{"local": 2}]
    assert seen["anaNews"] == ["news"]

    # disconnects both ways; the other namespace stays
    assert seen["bobLeft"] == {"sid": seen["bobId"], "reason": "client namespace disconnect"}
    assert seen["kickReason"] == "io server disconnect"
    assert seen["otherAfterKick"] == ["still here"]
    assert seen["otherPendingEchoed"] == 0
