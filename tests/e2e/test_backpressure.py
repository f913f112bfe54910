"""A client that stops reading is dropped once its buffer passes the bound; memory stays flat."""

from __future__ import annotations

import asyncio
from pathlib import Path

import websockets

from realtime.engineio.websocket import SLOW_CLIENT_CLOSE_CODE

CHUNK = "x" * 200_000
SENDS = 150  # 30 MB of echoes asked for, 30x the bound


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


async def test_client_that_stops_reading_is_dropped(server_factory) -> None:
    server = server_factory("tests.support.settings_backpressure")
    url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    pid = server.process.pid
    before = rss_kb(pid)

    async with websockets.connect(url, max_queue=1, max_size=None) as ws:
        await ws.recv()
        await ws.send("40")
        try:
            for _ in range(SENDS):
                # a send blocks once the server stops reading us after dropping us
                await asyncio.wait_for(ws.send(f'42["message","{CHUNK}"]'), 2)
                await asyncio.sleep(0.002)
        except (websockets.ConnectionClosed, TimeoutError):
            pass  # the server dropped us while we were still sending
        await asyncio.sleep(0.5)
        grown_kb = rss_kb(pid) - before
        echoes = 0
        try:
            async with asyncio.timeout(20):
                async for frame in ws:  # now read what made it out before the drop
                    if isinstance(frame, str) and frame.startswith('42["message-back"'):
                        echoes += 1
        except websockets.ConnectionClosed:
            pass
        close_code = ws.close_code

    # dropped by the server: its close frame, or (the client never answered the close
    # handshake) the connection cut after it
    assert close_code in (SLOW_CLIENT_CLOSE_CODE, 1006), close_code
    assert echoes < SENDS  # the echoes stopped when the bound was hit
    assert grown_kb < 20_000, f"server grew {grown_kb} KB for one non-reading client"

    # the server stays healthy and serves the next client
    async with websockets.connect(url) as ws:
        assert (await ws.recv()).startswith("0{")
        await ws.send("40")
        assert (await ws.recv()).startswith("40{")
