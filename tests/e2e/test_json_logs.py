"""LOG_FORMAT=json: server log lines are JSON objects; a failing handler's names the socket."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.support.clients import RecordingClient


@pytest.mark.asyncio
async def test_json_log_lines_carry_the_socket(server_factory) -> None:
    server = server_factory("tests.support.settings_adapter", LOG_FORMAT="json")
    client = await RecordingClient(server.url, ["websocket"], ["/test"]).connect()
    sid = client.sid("/test")
    await client.emit("/test", "fail", {"x": 1})

    for _ in range(200):  # poll without blocking the client's loop
        if "handler failed on purpose" in server.log_path.read_text():
            break
        await asyncio.sleep(0.05)
    else:
        raise AssertionError(f"no failure logged:\n{server.log()}")
    await client.close()

    entries = []
    for line in server.log_path.read_text().splitlines():
        if line.startswith("{"):
            entries.append(json.loads(line))  # every structured line parses
    failure = next(e for e in entries if "handler for 'fail' failed" in e["message"])
    assert failure["level"] == "ERROR"
    assert failure["sid"] == sid
    assert failure["namespace"] == "/test"
    assert "RuntimeError: handler failed on purpose" in failure["exc"]
