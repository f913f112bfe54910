"""The bench's load generator against our server in bench mode, for a few seconds: clients
connect, join their rooms, messages fan out and REST emits arrive. Counts only, no timings."""

from __future__ import annotations

import contextlib
import importlib
import json
import secrets
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from tests.support.servers import ServerProcess
from tests.support.tokens import user_token

LOADGEN = Path(__file__).resolve().parents[2] / "bench" / "loadgen"
CLIENTS = 40
ROOMS = 4
TIMING = {"warmupS": 0.2, "durationS": 0.8, "drainS": 0.5}


@pytest.fixture(scope="module")
def bench_server(server_database: str) -> Iterator[ServerProcess]:
    process = ServerProcess("config.settings.bench", database=server_database).start()
    yield process
    process.stop()


def run_loadgen(spec: dict) -> dict:
    if shutil.which("node") is None:
        pytest.fail("the load generator needs node")
    done = subprocess.run(
        ["node", str(LOADGEN / "loadgen.mjs"), json.dumps({"maxS": 30, **spec})],
        capture_output=True,
        text=True,
        timeout=45,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_fanout_and_rest_emit_are_delivered(bench_server: ServerProcess) -> None:
    ws_url = bench_server.url.replace("http://", "ws://")
    result = run_loadgen(
        {
            "scenario": "fanout",
            "urls": [ws_url],
            "httpUrls": [bench_server.url],
            "clients": CLIENTS,
            "rooms": ROOMS,
            "holdS": 0,
            "runs": [
                {"kind": "fanout", "window": 2, **TIMING},
                {"kind": "fanout", "rate": 200, **TIMING},
                {"kind": "rest", "restConcurrency": 4, **TIMING},
            ],
        }
    )
    assert result.get("error") is None, result
    assert result["connect"]["connected"] == CLIENTS, result["connect"]
    assert result["setup"]["acks"] == CLIENTS, result["setup"]  # every join acked {ok: true}
    saturated, paced, rest = result["runs"]
    for run in (saturated, paced):
        assert run["sent"] > 0, run
        # every message reached the whole room, sender included, and nobody was dropped
        assert run["deliveredTotal"] == run["expectedDeliveries"], run
        assert run["deliveries"] > 0 and run["disconnects"] == 0, run
    assert rest["requests"] > 0 and rest["httpErrors"] == 0, rest
    assert rest["deliveredTotal"] == rest["sent"], rest  # one socket per user:<id> room


def test_connect_storm_counts_every_client(bench_server: ServerProcess) -> None:
    """A connect storm alone: the clients connect and are counted, and the RSS is read."""
    result = run_loadgen(
        {
            "scenario": "storm",
            "urls": [bench_server.url.replace("http://", "ws://")],
            "clients": CLIENTS,
            "holdS": 0,
            "pids": [bench_server.process.pid] if bench_server.process else [],
        }
    )
    assert result["connect"]["connected"] == CLIENTS, result["connect"]
    assert result["connect"]["timeToJoined"]["n"] == CLIENTS
    assert result["connect"]["rssAfterMiB"] > 0


def test_the_bench_namespace_refuses_to_load_outside_bench_mode() -> None:
    with pytest.raises(ImproperlyConfigured, match=r"config\.settings\.bench"):
        importlib.import_module("config.bench")


def test_scenario_5_stores_what_every_member_sends_and_everyone_hears_it(
    server: ServerProcess, server_database: str, tmp_path: Path
) -> None:
    """Scenario 5 on the real /v1/conversation: conversations made by their first member,
    one sender each, then every member sending (the saturation run); every acked message
    reached each member of its conversation, the sender too."""
    conversations, members = 3, 4
    prefix = f"smoke5-{secrets.token_hex(4)}"
    tokens = [
        {
            "uid": f"{prefix}-u{i}",
            "token": user_token(f"{prefix}-u{i}", f"{prefix}-a{i // members}"),
        }
        for i in range(conversations * members)
    ]
    (tmp_path / "tokens.json").write_text(json.dumps(tokens))
    result = run_loadgen(
        {
            "scenario": "message",
            "urls": [server.url.replace("http://", "ws://")],
            "clients": len(tokens),
            "tokensFile": str(tmp_path / "tokens.json"),
            "membersPer": members,
            "holdS": 0,
            "runs": [
                {"kind": "message", **TIMING},
                {"kind": "message", "everyMember": True, **TIMING},
            ],
        }
    )
    assert result.get("error") is None, result
    assert result["setup"]["acks"] == conversations, result["setup"]
    for run in result["runs"]:
        assert run["acks"] > 0 and run["ackFailures"] == 0, run
        assert run["deliveredTotal"] == members * run["acks"], run  # new_message to everyone
    with contextlib.closing(sqlite3.connect(server_database)) as db:  # `with` alone leaves it open
        stored, senders = db.execute(
            "SELECT COUNT(*), COUNT(DISTINCT sender_id) FROM conversations_message "
            "WHERE sender_id LIKE ?",
            (f"{prefix}-%",),
        ).fetchone()
    assert stored == sum(run["acks"] for run in result["runs"])  # no run's id was a retry
    assert senders == conversations * members  # the saturation run: every member sent


def test_bench_paced_alternates_the_servers_and_sums_up() -> None:
    """`bench/paced`, as short as it goes: one round on our server alone is two starts, each
    reporting its paced run and not the saturation run before it."""
    root = Path(__file__).resolve().parents[2]
    command = ["bench/paced.py", "--servers", "ours", "--rounds", "1", "--runs", "1"]
    done = subprocess.run(
        [sys.executable, *command, "--seconds", "0.5"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    lines = done.stdout.splitlines()
    starts = [line.split() for line in lines if line.startswith("ours ") and "mean" not in line]
    assert [len(start) for start in starts] == [2, 2], done.stdout  # two starts, a run each
    p50, p99 = (float(ms) for ms in starts[0][1].split("/"))
    assert 0 < p50 <= p99, done.stdout
    assert any("p99 mean" in line and "(2 runs)" in line for line in lines), done.stdout
