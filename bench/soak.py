"""A bounded soak of the product: `manage.py serve --workers 2` on a real redis-server (loopback,
a fresh SQLite file), hundreds of python-socketio clients on /v1/conversation connecting,
chatting in real conversations (`add_conversation`, then `message` with a `client_msg_id`)
and reconnecting, for `--seconds` (default 180). Then:

- with every client connected and quiet: LiveSocket rows == live sockets == clients, every
  user's presence `active`;
- once every client has left: no LiveSocket row, every user `inactive` after the grace
  period, no socket or session in /metrics, each worker's asyncio tasks and channel-layer
  groups and Redis's group keys and subscribed channels back at their baseline, each
  worker's RSS near its baseline;
- every acked message stored once.

`bench/soak.py [--seconds S] [--clients N] [--no-write]` prints a table and writes it into the
"Soak" section of bench/RESULTS.md (the rest of the file is left as it is). Exit status 1 if
a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import jwt
import redis
import socketio
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.support.servers import RedisServer, free_port, wait_until  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python")
RESULTS = ROOT / "bench" / "RESULTS.md"
BEGIN, END = "<!-- soak:begin -->", "<!-- soak:end -->"
NS = "/v1/conversation"
SECRET = "soak-jwt-secret-not-for-production-use-0123456789"
GRACE_S = 2.0
CALL_TIMEOUT_S = 10.0
RSS_SLACK_KB = 30_000  # "near its baseline": what a soak may leave in a worker's heap
TASK_SLACK = 2  # tasks of requests in flight when a worker samples (a /metrics scrape, ...)
SETTLE_TIMEOUT_S = 60.0
# a worker's tasks and layer groups are gauges its sampler sets every second
# (realtime.metrics.SAMPLE_S): a snapshot waits this long after a change to see it
SAMPLED_GAUGES_S = 1.5


@dataclass
class Options:
    seconds: float
    clients: int
    workers: int
    group: int  # users per conversation
    message_every_s: float  # per user, on average
    reconnect_every_s: float  # per user, on average
    polling_share: float  # clients that start on long-polling and upgrade


# ----- the server -----------------------------------------------------------------------------


class Serve:
    """`manage.py serve` with its workers, and the database it writes."""

    def __init__(self, redis_url: str, workers: int) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="soak-"))
        self.database = str(self.dir / "db.sqlite3")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers = workers
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.base",
            "JWT_SECRET": SECRET,
            "REDIS_URL": redis_url,
            "SQLITE_PATH": self.database,
            "PRESENCE_GRACE_S": str(GRACE_S),
            "PUSH_BACKEND": "log",
            "LOG_LEVEL": "WARNING",
        }
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve makes its own
        self.log_path = self.dir / "serve.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Serve:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
            timeout=120,
        )
        command = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        self.process = subprocess.Popen(
            [*command, "--workers", str(self.workers)],
            cwd=ROOT,
            env=self.env,
            stdout=self.log_path.open("ab"),
            stderr=subprocess.STDOUT,
        )
        if not wait_until(self._ready, 60):
            self.stop()
            raise RuntimeError(f"serve did not start:\n{self.log_path.read_text()[-3000:]}")
        return self

    def _ready(self) -> bool:
        try:
            up = httpx.get(self.url + "/status", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False
        return up and len(self.worker_pids()) == self.workers

    def worker_pids(self) -> list[int]:
        assert self.process is not None
        pid = self.process.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            return []
        return sorted(int(child) for child in children)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self.process = None

    def tracebacks(self) -> int:
        return self.log_path.read_text(errors="replace").count("Traceback")


def rss_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(status.split("VmRSS:")[1].split()[0])


@dataclass
class Snapshot:
    """What the service holds at one moment."""

    rss_kb: dict[int, int]
    tasks: dict[int, float]
    groups: dict[int, float]
    sockets: float
    sessions: float
    live_socket_rows: int
    redis_groups: int

    def line(self) -> str:
        rss = "/".join(f"{kb / 1024:.0f}" for kb in self.rss_kb.values())
        tasks = "/".join(f"{n:.0f}" for n in self.tasks.values())
        groups = "/".join(f"{n:.0f}" for n in self.groups.values())
        return (
            f"RSS {rss} MB, tasks {tasks}, layer groups {groups}, sockets {self.sockets:.0f},"
            f" sessions {self.sessions:.0f}, LiveSocket rows {self.live_socket_rows},"
            f" Redis group keys + subscribed channels {self.redis_groups}"
        )


async def snapshot(serve: Serve, redis_client: Any) -> Snapshot:
    async with httpx.AsyncClient(timeout=10) as http:
        text = (await http.get(serve.url + "/metrics")).text
    per_pid: dict[str, dict[int, float]] = defaultdict(dict)
    totals: dict[str, float] = defaultdict(float)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name in ("process_asyncio_tasks", "channel_layer_groups"):
                per_pid[sample.name][int(sample.labels["pid"])] = sample.value
            elif sample.name in ("socketio_sockets", "engineio_sessions"):
                totals[sample.name] += sample.value
    pids = serve.worker_pids()
    return Snapshot(
        rss_kb={pid: rss_kb(pid) for pid in pids},
        tasks={pid: per_pid["process_asyncio_tasks"].get(pid, -1) for pid in pids},
        groups={pid: per_pid["channel_layer_groups"].get(pid, -1) for pid in pids},
        sockets=totals["socketio_sockets"],
        sessions=totals["engineio_sessions"],
        live_socket_rows=query(serve, "SELECT count(*) FROM presence_livesocket")[0][0],
        # the core layer's group keys, and the pub/sub layer's subscribed channels
        redis_groups=sum(1 for _ in redis_client.scan_iter(match="asgi:group:*", count=1000))
        + len(redis_client.pubsub_channels()),
    )


def query(serve: Serve, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(f"file:{serve.database}?mode=ro", uri=True, timeout=30) as db:
        return db.execute(sql, args).fetchall()


# ----- the clients ----------------------------------------------------------------------------


@dataclass
class User:
    uid: str
    account: str
    transports: list[str]
    sio: socketio.AsyncClient | None = None
    cid: str | None = None
    sent: int = 0
    acked: list[str] = field(default_factory=list)  # client_msg_ids
    failed: int = 0
    received: int = 0
    connects: int = 0

    @property
    def token(self) -> str:
        claims = {"uid": self.uid, "account_id": self.account, "scope": "conversation"}
        return jwt.encode({**claims, "exp": int(time.time()) + 3600}, SECRET, algorithm="HS256")

    @property
    def connected(self) -> bool:
        return self.sio is not None and self.sio.connected

    async def connect(self, url: str) -> None:
        sio = socketio.AsyncClient(reconnection=False)

        async def on_new_message(payload: Any) -> None:
            self.received += 1

        sio.on("new_message", on_new_message, namespace=NS)
        await sio.connect(
            url,
            namespaces=[NS],
            auth={"token": self.token},
            transports=self.transports,
            wait_timeout=CALL_TIMEOUT_S,
        )
        self.sio = sio
        self.connects += 1

    async def close(self) -> None:
        sio, self.sio = self.sio, None
        if sio is not None:
            await sio.disconnect()
            await sio.shutdown()

    async def call(self, event: str, payload: dict[str, Any]) -> Any:
        assert self.sio is not None
        return await self.sio.call(event, payload, namespace=NS, timeout=CALL_TIMEOUT_S)

    async def send(self) -> None:
        client_msg_id = f"{self.uid}-{self.sent}"
        self.sent += 1
        try:
            ack = await self.call(
                "message", {"cid": self.cid, "content": "soak", "client_msg_id": client_msg_id}
            )
        except Exception:
            self.failed += 1
            return
        if isinstance(ack, dict) and ack.get("success"):
            self.acked.append(client_msg_id)
        else:
            self.failed += 1

    async def live(self, url: str, options: Options, stop: asyncio.Event) -> None:
        """Chat and reconnect until `stop`; end connected."""
        rng = random.Random(self.uid)
        next_message = time.monotonic() + rng.expovariate(1 / options.message_every_s)
        next_reconnect = time.monotonic() + rng.expovariate(1 / options.reconnect_every_s)
        while not stop.is_set():
            now = time.monotonic()
            if not self.connected:
                await self.reconnect(url)
            elif now >= next_reconnect:
                await self.close()
                await asyncio.sleep(rng.uniform(0.05, 1.0))
                await self.reconnect(url)
                next_reconnect = time.monotonic() + rng.expovariate(1 / options.reconnect_every_s)
            elif now >= next_message:
                await self.send()
                next_message = time.monotonic() + rng.expovariate(1 / options.message_every_s)
            else:
                wake = min(next_message, next_reconnect) - now
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), max(wake, 0.01))
        if not self.connected:
            await self.reconnect(url)

    async def reconnect(self, url: str) -> None:
        await self.close()
        for _attempt in range(10):
            try:
                await self.connect(url)
                return
            except Exception:
                await self.close()
                await asyncio.sleep(0.5)
        raise RuntimeError(f"{self.uid} could not reconnect")


async def gather_bounded(coros: list[Any], limit: int = 25) -> list[Any]:
    gate = asyncio.Semaphore(limit)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return await asyncio.gather(*(one(coro) for coro in coros))


def make_users(prefix: str, count: int, options: Options) -> list[User]:
    users = []
    for n in range(count):
        account = f"{prefix}-acct-{n // options.group}"
        polling = (n % 100) < options.polling_share * 100
        transports = ["polling", "websocket"] if polling else ["websocket"]
        users.append(User(f"{prefix}-u{n}", account, transports))
    return users


async def open_conversations(users: list[User], options: Options) -> None:
    """One conversation per `options.group` users, made by the first with `add_conversation`."""
    groups = [users[i : i + options.group] for i in range(0, len(users), options.group)]

    async def make(group: list[User]) -> None:
        ack = await group[0].call("add_conversation", {"users": [u.uid for u in group[1:]]})
        assert ack.get("success"), ack
        for user in group:
            user.cid = ack["data"]["conversation"]["_id"]

    await gather_bounded([make(group) for group in groups])


# ----- checks ---------------------------------------------------------------------------------


class Checks:
    def __init__(self) -> None:
        self.rows: list[tuple[str, str, bool]] = []

    def check(self, what: str, value: str, ok: bool) -> None:
        self.rows.append((what, value, ok))
        print(f"{'ok  ' if ok else 'FAIL'} {what}: {value}", flush=True)

    @property
    def passed(self) -> bool:
        return all(ok for _, _, ok in self.rows)


async def until(condition: Any, timeout: float = SETTLE_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await condition():
            return True
        await asyncio.sleep(1.0)
    return bool(await condition())


async def soak(options: Options, write: bool) -> bool:
    redis_server = RedisServer().start()
    serve = Serve(redis_server.url, options.workers)
    checks = Checks()
    try:
        serve.start()
        redis_client = redis.Redis.from_url(redis_server.url)
        table = await run(serve, redis_client, options, checks)
        tracebacks = serve.tracebacks()
        checks.check("tracebacks in the server log", str(tracebacks), tracebacks == 0)
    finally:
        serve.stop()
        redis_server.stop()
    report = render(options, table, checks)
    print("\n" + report)
    if write:
        write_results(report)
    return checks.passed


async def run(serve: Serve, redis_client: Any, options: Options, checks: Checks) -> list[str]:
    table: list[str] = []
    started = time.monotonic()
    at_start = await snapshot(serve, redis_client)
    table.append(f"| just started | {at_start.line()} |")

    # warm-up: imports, caches, pools and the registry's heartbeat, so the baseline is steady
    # (enough users that every worker gets some)
    warm = make_users("warm", 8 * options.group, options)
    await gather_bounded([user.connect(serve.url) for user in warm])
    await open_conversations(warm, options)
    await gather_bounded([user.send() for user in warm for _ in range(3)])
    await gather_bounded([user.close() for user in warm])
    await asyncio.sleep(GRACE_S + 4)
    baseline = await snapshot(serve, redis_client)
    table.append(f"| baseline (after a warm-up) | {baseline.line()} |")

    users = make_users("soak", options.clients, options)
    await gather_bounded([user.connect(serve.url) for user in users])
    await open_conversations(users, options)
    await asyncio.sleep(SAMPLED_GAUGES_S)
    connected = await snapshot(serve, redis_client)
    table.append(f"| {options.clients} connected | {connected.line()} |")

    stop = asyncio.Event()
    lives = [asyncio.ensure_future(user.live(serve.url, options, stop)) for user in users]
    peak_rss: dict[int, int] = dict(connected.rss_kb)
    deadline = time.monotonic() + options.seconds
    while time.monotonic() < deadline:
        await asyncio.sleep(min(10.0, max(deadline - time.monotonic(), 0)))
        now = await snapshot(serve, redis_client)
        for pid, kb in now.rss_kb.items():
            peak_rss[pid] = max(peak_rss.get(pid, 0), kb)
        live = sum(user.connected for user in users)
        print(f"t+{time.monotonic() - started:4.0f}s clients up {live}: {now.line()}", flush=True)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*lives), 60)
    peak = "/".join(f"{kb / 1024:.0f}" for kb in peak_rss.values())
    table.append(f"| during the soak (peak RSS) | {peak} MB |")

    await quiet_checks(serve, redis_client, users, checks, table)
    await gather_bounded([user.close() for user in users])
    await settled_checks(serve, redis_client, users, baseline, checks, table)
    message_checks(serve, users, checks, table)
    return table


async def quiet_checks(
    serve: Serve, redis_client: Any, users: list[User], checks: Checks, table: list[str]
) -> None:
    """Everyone connected and quiet: the registry and presence say exactly that."""
    live = sum(user.connected for user in users)

    async def registry_caught_up() -> bool:
        snap = await snapshot(serve, redis_client)
        return snap.live_socket_rows == live and snap.sockets == live

    await until(registry_caught_up, 15)
    snap = await snapshot(serve, redis_client)
    table.append(f"| all {live} connected, quiet | {snap.line()} |")
    checks.check("clients connected at the end", f"{live}/{len(users)}", live == len(users))
    checks.check(
        "LiveSocket rows == live sockets == /metrics sockets",
        f"{snap.live_socket_rows} == {live} == {snap.sockets:.0f}",
        snap.live_socket_rows == live == snap.sockets,
    )
    statuses = presence(serve, users)
    checks.check(
        "presence of connected users",
        f"{statuses.get('active', 0)} active of {len(users)}",
        statuses.get("active", 0) == len(users),
    )


async def settled_checks(
    serve: Serve,
    redis_client: Any,
    users: list[User],
    baseline: Snapshot,
    checks: Checks,
    table: list[str],
) -> None:
    """Everyone gone: nothing of theirs is left anywhere."""

    async def empty() -> bool:
        snap = await snapshot(serve, redis_client)
        back = tasks_back(snap, baseline) and snap.groups == baseline.groups
        gone = snap.live_socket_rows == 0 and snap.sockets == 0 and snap.sessions == 0
        offline = presence(serve, users).get("inactive", 0) == len(users)
        return back and gone and offline and snap.redis_groups == baseline.redis_groups

    left_at = time.monotonic()
    settled = await until(empty)
    after = await snapshot(serve, redis_client)
    took = time.monotonic() - left_at
    table.append(f"| all left, {took:.0f} s later | {after.line()} |")
    checks.check(
        "LiveSocket rows after all left", str(after.live_socket_rows), not after.live_socket_rows
    )
    checks.check(
        "/metrics sockets and sessions after all left",
        f"{after.sockets:.0f} and {after.sessions:.0f}",
        after.sockets == 0 and after.sessions == 0,
    )
    statuses = presence(serve, users)
    checks.check(
        f"presence {GRACE_S:.0f} s after the last left",
        f"{statuses.get('inactive', 0)} inactive of {len(users)}",
        statuses.get("inactive", 0) == len(users),
    )
    checks.check(
        f"asyncio tasks per worker back to baseline (+{TASK_SLACK} in-flight requests)",
        f"{list(after.tasks.values())} vs {list(baseline.tasks.values())}",
        tasks_back(after, baseline),
    )
    checks.check(
        "layer groups per worker, Redis group keys + subscribed channels back to baseline",
        f"{list(after.groups.values())}, {after.redis_groups} vs"
        f" {list(baseline.groups.values())}, {baseline.redis_groups}",
        after.groups == baseline.groups and after.redis_groups == baseline.redis_groups,
    )
    for pid, kb in after.rss_kb.items():
        grown = kb - baseline.rss_kb.get(pid, kb)
        checks.check(
            f"worker {pid} RSS vs baseline",
            f"{baseline.rss_kb.get(pid, 0) / 1024:.0f} -> {kb / 1024:.0f} MB ({grown / 1024:+.1f})",
            grown <= RSS_SLACK_KB,
        )
    checks.check("settled within the time limit", f"{took:.0f} s", settled)


def tasks_back(now: Snapshot, baseline: Snapshot) -> bool:
    return all(
        0 <= count <= baseline.tasks.get(pid, -1) + TASK_SLACK for pid, count in now.tasks.items()
    )


def presence(serve: Serve, users: list[User]) -> Counter[str]:
    uids = [user.uid for user in users]
    marks = ",".join("?" * len(uids))
    rows = query(serve, f"SELECT status FROM presence_userpresence WHERE uid IN ({marks})", *uids)
    return Counter(status for (status,) in rows)


def message_checks(serve: Serve, users: list[User], checks: Checks, table: list[str]) -> None:
    acked = [cmid for user in users for cmid in user.acked]
    prefix = "soak-u%"
    stored = query(
        serve,
        "SELECT client_msg_id, count(*) FROM conversations_message"
        " WHERE sender_id LIKE ? GROUP BY client_msg_id",
        prefix,
    )
    stored_ids = {cmid: count for cmid, count in stored}
    sent = sum(user.sent for user in users)
    failed = sum(user.failed for user in users)
    received = sum(user.received for user in users)
    reconnects = sum(user.connects - 1 for user in users)
    table.append(
        f"| traffic | {sent} messages sent, {len(acked)} acked, {failed} unacked (cut by a"
        f" reconnect), {received} new_message received, {reconnects} reconnects |"
    )
    checks.check(
        "every acked message stored, once",
        f"{len(acked)} acked, {len(stored_ids)} stored",
        set(acked) <= set(stored_ids) and all(count == 1 for count in stored_ids.values()),
    )


# ----- the report -----------------------------------------------------------------------------


def render(options: Options, table: list[str], checks: Checks) -> str:
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    lines = [
        "## Soak",
        "",
        f"`bench/soak.py --seconds {options.seconds:.0f} --clients {options.clients}`, run"
        f" {stamp}: `manage.py serve --workers {options.workers}` on redis-server and SQLite,"
        f" {options.clients} python-socketio clients on `{NS}` in conversations of"
        f" {options.group}, each sending a `message` every {options.message_every_s:.0f} s and"
        f" reconnecting every {options.reconnect_every_s:.0f} s on average"
        f" ({options.polling_share:.0%} start on long-polling and upgrade). Per worker values"
        " are separated by `/`.",
        "",
        "| moment | the service |",
        "|---|---|",
        *table,
        "",
        "| check | value | |",
        "|---|---|---|",
        *(f"| {what} | {value} | {'ok' if ok else 'FAIL'} |" for what, value, ok in checks.rows),
    ]
    return "\n".join(lines)


def write_results(report: str) -> None:
    """Replace the Soak section of RESULTS.md (or append one); leave the rest alone."""
    block = f"{BEGIN}\n{report}\n{END}"
    text = RESULTS.read_text() if RESULTS.exists() else "# Bench results\n"
    if BEGIN in text and END in text:
        head, _, rest = text.partition(BEGIN)
        _, _, tail = rest.partition(END)
        text = head + block + tail
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    RESULTS.write_text(text)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--clients", type=int, default=300)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--group", type=int, default=5, help="users per conversation")
    parser.add_argument("--message-every", type=float, default=15.0, dest="message_every_s")
    parser.add_argument("--reconnect-every", type=float, default=60.0, dest="reconnect_every_s")
    parser.add_argument("--polling-share", type=float, default=0.2)
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    args = parser.parse_args()
    options = Options(
        args.seconds,
        args.clients,
        args.workers,
        args.group,
        args.message_every_s,
        args.reconnect_every_s,
        args.polling_share,
    )
    limit = options.seconds + 600  # set-up, warm-up and settling are bounded too
    passed = asyncio.run(asyncio.wait_for(soak(options, not args.no_write), limit))
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
