"""Events a client sent just before it disconnected still run: nothing it sent is lost."""

from __future__ import annotations

import asyncio
import json

import websockets

from tests.support.clients import RecordingClient

NS = "/v1/lead-finder"


async def test_events_sent_right_before_a_disconnect_are_handled(server) -> None:
    job = "job-sent-then-gone"
    url = server.url.replace("http", "ws") + "/socket.io/?EIO=4&transport=websocket"
    async with websockets.connect(url) as scraper:
        await scraper.recv()  # open packet
        await scraper.send(f"40{NS},")
        assert (await scraper.recv()).startswith(f"40{NS},")
        started = {"job_id": job, "query": "plumbers", "total_expected": 3}
        completed = {"job_id": job, "found": 3, "duration_ms": 1200}
        # fire both without waiting for their acks, then hang up at once
        await scraper.send(f'42{NS},1["scraper_started",{json.dumps(started)}]')
        await scraper.send(f'42{NS},2["scraper_completed",{json.dumps(completed)}]')

    watcher = await RecordingClient(server.url, ["websocket"], [NS]).connect()
    try:
        last = None
        for _ in range(50):  # the server finishes the scraper's queue after it hung up
            ack = await watcher.call(NS, "join", {"job_id": job})
            last = ack["data"]["last_event"]
            if last not in (None, "scraper_started"):
                break
            await watcher.call(NS, "leave", {"job_id": job})
            await asyncio.sleep(0.1)
        # both events ran before the disconnect hook: the job completed, it was not failed
        # as SCRAPER_DISCONNECTED
        assert last == "scraper_completed", last
        replay = await watcher.next(NS, "scraper_completed")
        assert replay[0]["found"] == 3
        assert not watcher.received(NS, "scraper_failed")
    finally:
        await watcher.close()
