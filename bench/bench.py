"""The bench driver behind `bench/run`: starts each server, runs the load generator against it
scenario by scenario, prints one Markdown table and writes it into bench/RESULTS.md.

Servers: ours (`manage.py serve` on uvicorn, and on daphne), the socket.io 4.8 and
python-socketio references in bench/reference/. Everything listens on 127.0.0.1 and every
step has a time limit.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from report import render, write_results  # bench/report.py, beside this file

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
LOADGEN = BENCH / "loadgen" / "loadgen.mjs"
DJANGO_SIO = BENCH / "reference" / "djangosio"
NS = "/v1/conversation"
JWT_SECRET = "bench-jwt-secret-for-scenario-5-only-0123456789"
START_TIMEOUT_S = 30

FULL = {
    "storm": [1000, 5000],
    "hold": 1.5,
    "clients": 1000,
    "rooms": 10,
    "warmup": 1.0,
    "duration": 6.0,
    "drain": 3.0,
    "paced": 2000,
    "window": 8,
    "rest_concurrency": 32,
    "conversations": 100,
    "members": 10,
    # scenario 5's users share one account: each connect tells every socket of it (about a
    # million active_status frames for 1,000 users); measure once that has gone out
    "message_settle": 10.0,
}
QUICK = {
    **FULL,
    "storm": [200],
    "hold": 0.3,
    "clients": 100,
    "warmup": 0.2,
    "duration": 1.0,
    "drain": 0.5,
    "conversations": 5,
    "message_settle": 1.0,
}

SERVERS = {
    "ours": "ours (uvicorn, serve's default)",
    "daphne": "ours on daphne (serve --server daphne)",
    "node": "socket.io 4.8 (node)",
    "python": "python-socketio 5 (uvicorn)",
    "djangosio": "django-sio 0.2 (daphne)",
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, timeout: float = START_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.1)
    return False


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(child) for child in text.split()]


# ----- servers -------------------------------------------------------------------------


@dataclass
class Server:
    """Running server processes: where clients go and which pids to measure."""

    kind: str
    ports: list[int]
    processes: list[subprocess.Popen[bytes]]
    pids: list[int] = field(default_factory=list)
    split: str = "url"
    logs: list[Path] = field(default_factory=list)

    @property
    def urls(self) -> list[str]:
        return [f"ws://127.0.0.1:{port}" for port in self.ports]

    @property
    def http_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def log_errors(self) -> list[str]:
        """Lines of the servers' logs that report an error (lost broadcasts show up here)."""
        found: list[str] = []
        for path in self.logs:
            with contextlib.suppress(OSError):
                for line in path.read_text(errors="replace").splitlines():
                    if any(word in line for word in ("ERROR", "Error", "Traceback", "full")):
                        found.append(line.strip()[:200])
        return found

    def stop(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)


def spawn(
    command: list[str], env: dict[str, str], log_path: Path, cwd: Path = ROOT
) -> subprocess.Popen[bytes]:
    with log_path.open("ab") as out:
        return subprocess.Popen(
            command,
            cwd=cwd,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stopped as a whole
        )


def start_ours(kind: str, procs: int, env: dict[str, str], workdir: Path) -> Server:
    """`manage.py serve` on its default ASGI server ("ours") or on daphne ("daphne")."""
    port = free_port()
    log_path = workdir / f"{kind}-{port}.log"
    command = [PYTHON, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)]
    if kind == "daphne":
        command += ["--server", "daphne"]
    process = spawn([*command, "--workers", str(procs)], env, log_path)
    server = Server(kind, [port], [process], split="sid", logs=[log_path])
    deadline = time.monotonic() + START_TIMEOUT_S
    while len(children(process.pid)) < procs and time.monotonic() < deadline:
        time.sleep(0.1)
    if not wait_http(f"http://127.0.0.1:{port}/status"):
        server.stop()
        raise RuntimeError(f"our server did not start: {log_path.read_text()[-2000:]}")
    time.sleep(0.5 * procs)  # let every worker finish starting, not only the first
    server.pids = children(process.pid)
    return server


def start_reference(kind: str, procs: int, env: dict[str, str], workdir: Path) -> Server:
    ports = [free_port() for _ in range(procs)]
    processes, logs = [], []
    for port in ports:
        cwd = ROOT
        if kind == "node":
            command = ["node", str(BENCH / "reference" / "node" / "server.mjs"), str(port)]
        elif kind == "python":
            command = [PYTHON, str(BENCH / "reference" / "python" / "server.py"), str(port)]
        else:  # django-sio on daphne, from its own venv
            cwd = DJANGO_SIO
            daphne = str(DJANGO_SIO / ".venv" / "bin" / "daphne")
            command = [daphne, "-b", "127.0.0.1", "-p", str(port), "asgi:application"]
            env = {**env, "DJANGO_SETTINGS_MODULE": "settings"}
        logs.append(workdir / f"{kind}-{port}.log")
        processes.append(spawn(command, env, logs[-1], cwd))
    server = Server(kind, ports, processes, logs=logs)
    for port, log_path in zip(ports, logs, strict=True):
        if not wait_http(f"http://127.0.0.1:{port}/status"):
            server.stop()
            raise RuntimeError(f"{kind} did not start: {log_path.read_text()[-2000:]}")
    server.pids = [process.pid for process in processes]
    return server


def start_server(kind: str, procs: int, redis_url: str | None, ctx: Context) -> Server:
    env = {"SQLITE_PATH": ctx.bench_db, "DJANGO_SETTINGS_MODULE": "config.settings.bench"}
    env["SHUTDOWN_TIMEOUT_S"] = "3"  # between scenarios: no need to wait for long
    if redis_url:
        env["REDIS_URL"] = redis_url
    if kind in ("ours", "daphne"):
        return start_ours(kind, procs, env, ctx.workdir)
    return start_reference(kind, procs, env, ctx.workdir)


@contextlib.contextmanager
def running(kind: str, procs: int, redis_url: str | None, ctx: Context) -> Iterator[Server]:
    server = start_server(kind, procs, redis_url, ctx)
    try:
        yield server
    finally:
        server.stop()
        errors = server.log_errors()
        if errors:
            log(f"{kind}: {len(errors)} error lines in its log, first: {errors[0]}")
            ctx.log_errors.setdefault(kind, []).extend(errors[:20])


@contextlib.contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, int]]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        cwd=workdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", process.pid
    finally:
        process.terminate()
        process.wait(5)


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A PostgreSQL server of its own for scenario 5, on its default (durable) settings: fsync
    and synchronous commits on. Yields its DATABASE_URL; removed afterwards."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parts[-3])
    if not found:
        raise RuntimeError("PostgreSQL is not installed (apt-get install postgresql)")
    bin_dir = found[-1].parent
    data = Path(tempfile.mkdtemp(prefix="gs-bench-pg-"))  # not in workdir: postgres enters it
    as_postgres: list[str] = []
    if os.getuid() == 0:  # initdb refuses root: the Debian package's postgres user runs it
        shutil.chown(data, "postgres")
        as_postgres = ["runuser", "-u", "postgres", "--"]
    cluster, port = str(data / "db"), free_port()

    def pg(program: str, *args: str) -> None:
        command = [*as_postgres, str(bin_dir / program), *args]
        done = subprocess.run(command, timeout=120, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{program} failed: {done.stderr.strip()[-500:]}")

    try:
        pg("initdb", "-D", cluster, "-U", "postgres", "--auth=trust")
        options = f"-p {port} -k {data} -c listen_addresses=127.0.0.1"
        pg("pg_ctl", "-D", cluster, "-l", str(data / "server.log"), "-w", "-o", options, "start")
        yield f"postgres://postgres@127.0.0.1:{port}/postgres"
    finally:
        with contextlib.suppress(RuntimeError, subprocess.SubprocessError):
            pg("pg_ctl", "-D", cluster, "-m", "fast", "stop")
        shutil.rmtree(data, ignore_errors=True)


# ----- the load generator ---------------------------------------------------------------


@dataclass
class Context:
    plan: dict[str, Any]
    workdir: Path
    bench_db: str
    loadgen_procs: int
    results: dict[str, Any] = field(default_factory=dict)
    log_errors: dict[str, list[str]] = field(default_factory=dict)


def new_context(plan: dict[str, Any], loadgen_procs: int, prefix: str) -> Context:
    """A Context in a fresh work directory, with the bench-mode SQLite database migrated."""
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    bench_db = str(workdir / "bench.sqlite3")
    migrate({"DJANGO_SETTINGS_MODULE": "config.settings.bench", "SQLITE_PATH": bench_db})
    return Context(plan, workdir, bench_db, loadgen_procs)


def listed(parser: argparse.ArgumentParser, text: str, known: list[str]) -> list[str]:
    """The comma-separated names in `text`; one that is not `known` is a usage error."""
    names = [name for name in text.split(",") if name]
    unknown = [name for name in names if name not in known]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return names


def loadgen(spec: dict[str, Any], timeout: float) -> dict[str, Any]:
    spec = {"maxS": timeout, **spec}
    try:
        done = subprocess.run(
            ["node", str(LOADGEN), json.dumps(spec)],
            capture_output=True,
            text=True,
            timeout=timeout + 15,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"load generator timed out after {timeout + 15:.0f} s"}
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if not lines:
        return {"error": f"load generator failed ({done.returncode}): {done.stderr[-1500:]}"}
    return json.loads(lines[-1])


def base_spec(server: Server, ctx: Context, clients: int) -> dict[str, Any]:
    return {
        "urls": server.urls,
        "httpUrls": server.http_urls,
        "ns": NS,
        "clients": clients,
        "procs": ctx.loadgen_procs,
        "pids": server.pids,
        "split": server.split if len(server.pids) > 1 else "none",
        "rooms": ctx.plan["rooms"],
    }


def timed_runs(ctx: Context, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    plan = ctx.plan
    timing = {"warmupS": plan["warmup"], "durationS": plan["duration"], "drainS": plan["drain"]}
    return [{**timing, **run} for run in runs]


def fanout_runs(ctx: Context) -> list[dict[str, Any]]:
    plan = ctx.plan
    return timed_runs(
        ctx,
        [
            {"kind": "fanout", "rate": 0, "window": plan["window"]},
            {"kind": "fanout", "rate": plan["paced"]},
            {"kind": "rest", "restConcurrency": plan["rest_concurrency"]},
        ],
    )


# ----- scenarios ------------------------------------------------------------------------


def scenario_storm(ctx: Context, kinds: list[str]) -> None:
    for clients in ctx.plan["storm"]:
        for kind in kinds:
            log(f"1. connect storm, {clients} clients: {kind}")
            with running(kind, 1, None, ctx) as server:
                spec = {**base_spec(server, ctx, clients), "scenario": "storm"}
                spec["holdS"] = ctx.plan["hold"]
                ctx.results.setdefault(f"storm{clients}", {})[kind] = loadgen(spec, 120)


def scenario_fanout(ctx: Context, kinds: list[str]) -> None:
    clients = ctx.plan["clients"]
    for kind in kinds:
        log(f"2-3. fan-out and REST emit, {clients} clients: {kind}")
        with running(kind, 1, None, ctx) as server:
            spec = {**base_spec(server, ctx, clients), "scenario": "fanout"}
            spec["runs"] = fanout_runs(ctx)
            ctx.results.setdefault("fanout", {})[kind] = loadgen(spec, 240)


def scenario_cluster(ctx: Context, kinds: list[str]) -> None:
    clients = ctx.plan["clients"]
    for kind in kinds:
        log(f"4. two processes on redis, {clients} clients: {kind}")
        with (
            redis_server(ctx.workdir) as (redis_url, redis_pid),
            running(kind, 2, redis_url, ctx) as server,
        ):
            spec = {**base_spec(server, ctx, clients), "scenario": "fanout"}
            spec["runs"] = fanout_runs(ctx)
            spec["auxPids"] = [redis_pid]
            # the clients connect as in scenario 1 (a storm, split across the processes)
            spec["holdS"] = ctx.plan["hold"]
            ctx.results.setdefault("cluster", {})[kind] = loadgen(spec, 240)


def mint_tokens(path: Path, users: int, team: int) -> None:
    """Tokens of `users` users in teams of `team`, each team an account of its own (the
    load generator makes one conversation per team)."""
    import jwt

    exp = int(time.time()) + 3600
    tokens = [
        {
            "uid": f"bench-u{i}",
            "token": jwt.encode(
                {
                    "uid": f"bench-u{i}",
                    "account_id": f"bench-a{i // team}",
                    "scope": "conversation",
                    "exp": exp,
                },
                JWT_SECRET,
                algorithm="HS256",
            ),
        }
        for i in range(users)
    ]
    path.write_text(json.dumps(tokens))


@contextlib.contextmanager
def conversation_server(
    ctx: Context, users: int, database_url: str = "", workers: int = 1
) -> Iterator[tuple[Server, Path]]:
    """Our server as deployed (base settings, JWTs, registry on) and users' tokens, on SQLite
    or on the PostgreSQL server at `database_url`; with several workers, on a redis-server."""
    env = {
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "SQLITE_PATH": str(ctx.workdir / "scenario5.sqlite3"),
        "DATABASE_URL": database_url,
        "JWT_SECRET": JWT_SECRET,
        "LOG_LEVEL": "WARNING",
        "PUSH_BACKEND": "log",
        "SHUTDOWN_TIMEOUT_S": "3",
    }
    migrate(env)
    tokens = ctx.workdir / "tokens.json"
    mint_tokens(tokens, users, ctx.plan["members"])
    redis = redis_server(ctx.workdir) if workers > 1 else contextlib.nullcontext(("", 0))
    with redis as (redis_url, _):
        server = start_ours("ours", workers, {**env, "REDIS_URL": redis_url}, ctx.workdir)
        try:
            yield server, tokens
        finally:
            server.stop()
            errors = ctx.log_errors.setdefault("ours (scenario 5)", [])
            errors.extend(server.log_errors()[:20])


def message_spec(ctx: Context, server: Server, tokens: Path, users: int) -> dict[str, Any]:
    return {
        **base_spec(server, ctx, users),
        "scenario": "message",
        "tokensFile": str(tokens),
        "membersPer": ctx.plan["members"],
    }


def scenario_message(ctx: Context) -> None:
    """Scenario 5 on SQLite (results' "message"), then on PostgreSQL ("message_pg"); each once
    more on two workers on a redis-server, as `serve` runs on this machine ("..._2w")."""
    plan = ctx.plan
    users = plan["conversations"] * plan["members"]
    for workers, suffix in ((1, ""), (2, "_2w")):
        on = "" if workers == 1 else f", {workers} workers on redis"
        log(f"5. real /v1/conversation message path: {plan['conversations']} conversations, "
            f"SQLite{on}")  # fmt: skip
        ctx.results.setdefault(f"message{suffix}", {})["ours"] = message_run(ctx, users, workers)
        log(f"5. the same on PostgreSQL{on}")
        try:
            with postgres_server() as database_url:
                result = message_run(ctx, users, workers, database_url)
        except (RuntimeError, subprocess.SubprocessError) as exc:
            result = {"error": f"PostgreSQL: {exc}"}
        ctx.results.setdefault(f"message_pg{suffix}", {})["ours"] = result


def message_run(ctx: Context, users: int, workers: int, database_url: str = "") -> dict[str, Any]:
    with conversation_server(ctx, users, database_url, workers) as (server, tokens):
        spec = message_spec(ctx, server, tokens, users)
        spec["holdS"] = ctx.plan["message_settle"]
        # one sender per conversation, then every member sending (saturation)
        spec["runs"] = timed_runs(
            ctx, [{"kind": "message"}, {"kind": "message", "everyMember": True}]
        )
        return loadgen(spec, 180)


def migrate(env: dict[str, str]) -> None:
    subprocess.run(
        [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
        cwd=ROOT,
        env={**os.environ, **env},
        check=True,
        timeout=120,
    )


# ----- setup ----------------------------------------------------------------------------


def ensure_dependencies() -> None:
    """npm ci for the node reference (the load generator needs no package); the python
    reference's pins."""
    folder = BENCH / "reference" / "node"
    if not (folder / "node_modules").is_dir():
        log(f"npm ci in {folder.relative_to(ROOT)}")
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=folder,
            check=True,
            timeout=300,
        )
    requirements = BENCH / "reference" / "python" / "requirements.txt"
    pip = ["-m", "pip", "install", "-q", "--disable-pip-version-check", "-r"]
    subprocess.run([PYTHON, *pip, requirements], check=True, timeout=300)
    venv = DJANGO_SIO / ".venv"
    if not (venv / "bin" / "daphne").exists():
        log("django-sio reference: its own venv in bench/reference/djangosio/.venv")
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
        requirements = DJANGO_SIO / "requirements.txt"
        subprocess.run([str(venv / "bin" / "python"), *pip, requirements], check=True, timeout=300)


def command_output(command: list[str], cwd: Path = ROOT) -> str:
    try:
        return subprocess.run(
            command, capture_output=True, text=True, timeout=20, check=False, cwd=cwd
        ).stdout.strip()
    except OSError:
        return "?"


def package_version(folder: Path) -> str:
    try:
        return json.loads((folder / "package.json").read_text())["version"]
    except (OSError, ValueError, KeyError):
        return "?"


def machine() -> dict[str, str]:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    node_versions = ", ".join(
        f"{name} {package_version(folder / 'node_modules' / name)}"
        for folder, names in (
            (BENCH / "reference" / "node", ["socket.io", "@socket.io/redis-adapter", "redis"]),
        )
        for name in names
    )
    python_versions = command_output(
        [
            PYTHON,
            "-c",
            "import importlib.metadata as m;print(', '.join(p+' '+m.version(p) for p in "
            "['django','channels','channels-redis','daphne','twisted','python-socketio',"
            "'python-engineio','uvicorn','uvloop']))",
        ]
    )
    django_sio = command_output(
        [
            str(DJANGO_SIO / ".venv" / "bin" / "python"),
            "-c",
            "import importlib.metadata as m;print('django-sio '+m.version('django-sio'))",
        ]
    )
    return {
        "cpus": str(os.cpu_count()),
        "cpu": cpu,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "node": command_output(["node", "--version"]),
        "redis": command_output(["redis-server", "--version"]).split(" sha=")[0],
        "node packages": node_versions,
        "python packages": python_versions,
        "django-sio reference": f"{django_sio} (own venv, daphne 4.2.3)",
    }


SCENARIOS: dict[str, Callable[[Context, list[str]], None]] = {
    "storm": scenario_storm,
    "fanout": scenario_fanout,
    "cluster": scenario_cluster,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a ~1 minute smoke run")
    parser.add_argument(
        "--servers",
        help=f"some of {','.join(SERVERS)} (default: all; with --quick, all but djangosio)",
    )
    parser.add_argument(
        "--scenarios", default="storm,fanout,cluster,message", help="storm,fanout,cluster,message"
    )
    parser.add_argument("--loadgen-procs", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=1, help="run it all N times: medians")
    parser.add_argument("--json", help="also write the raw results here")
    parser.add_argument("--no-write", action="store_true", help="do not update RESULTS.md")
    args = parser.parse_args()
    servers = args.servers or ",".join(k for k in SERVERS if k != "djangosio" or not args.quick)
    kinds = listed(parser, servers, list(SERVERS))
    scenarios = listed(parser, args.scenarios, [*SCENARIOS, "message"])

    ensure_dependencies()
    ctx = new_context(QUICK if args.quick else FULL, args.loadgen_procs, "gs-bench-")
    started = time.monotonic()
    info = machine()
    loadavg_before = Path("/proc/loadavg").read_text().split()[:3]
    repeats: list[dict[str, Any]] = []
    for repeat in range(args.repeat):
        if args.repeat > 1:
            log(f"repeat {repeat + 1} of {args.repeat}")
        ctx.results = {}
        for name in scenarios:
            if name == "message":
                scenario_message(ctx)
            else:
                SCENARIOS[name](ctx, kinds)
        repeats.append(ctx.results)
    info["load average before / after"] = (
        f"{' '.join(loadavg_before)} / {' '.join(Path('/proc/loadavg').read_text().split()[:3])}"
    )
    info["wall time"] = f"{time.monotonic() - started:.0f} s ({'quick' if args.quick else 'full'})"
    info["repeats"] = f"{args.repeat} (each cell: the median; ± half the spread when repeated)"
    table = render(repeats, kinds, ctx.plan)
    print(table)
    if args.json:
        raw = {"machine": info, "results": repeats, "log_errors": ctx.log_errors}
        Path(args.json).write_text(json.dumps(raw, indent=1))
    if not args.no_write:
        write_results(BENCH / "RESULTS.md", table, info)
        log("bench/RESULTS.md updated")
    log(f"server logs kept in {ctx.workdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
