"""`bench/profile`: py-spy on one of our uvicorn workers while the load generator saturates
fan-out (scenario 2, or 4 with `--workers 2`), REST emits, `message` (scenario 5) or connects
(`--kind storm`: storms of `--clients`, one after another; `--every-member` for scenario 5 at
saturation); prints the top frames by own and total time.

py-spy is a session tool, not a requirement: `.venv/bin/pip install py-spy` first.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

from bench import (
    FULL,
    NS,
    base_spec,
    conversation_server,
    loadgen,
    message_spec,
    new_context,
    redis_server,
    running,
)

LINE = re.compile(r"^(.*) (\d+)$")
FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")


def short(frame: str) -> str:
    """`emit (/work/main/realtime/hub.py:120)` -> `emit (realtime/hub.py)`."""
    match = FRAME.match(frame)
    if not match:
        return frame
    name, path = match.groups()
    for marker in ("site-packages/", "/lib/python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{name} ({path})"


def top_frames(raw: Path, limit: int) -> str:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    files: Counter[str] = Counter()
    samples = 0
    for line in raw.read_text().splitlines():
        match = LINE.match(line)
        if not match:
            continue
        stack, count = match.group(1).split(";"), int(match.group(2))
        frames = [short(frame) for frame in stack]
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            total[frame] += count
        leaf_file = frames[-1].rsplit("(", 1)[-1].rstrip(")")
        files[leaf_file.split("/")[0] if "/" in leaf_file else leaf_file] += count
    out = [f"{samples} samples (on-CPU only)", "", "own time (the frame itself):"]
    out += [f"  {100 * n / samples:5.1f} %  {frame}" for frame, n in own.most_common(limit)]
    out += ["", "total time (the frame and what it calls):"]
    out += [f"  {100 * n / samples:5.1f} %  {frame}" for frame, n in total.most_common(limit)]
    out += ["", "own time by package:"]
    out += [f"  {100 * n / samples:5.1f} %  {name}" for name, n in files.most_common(limit)]
    return "\n".join(out)


def record(
    py_spy: str, pid: int, spec: dict, result: dict, seconds: float, raw: Path, setup_s: float
) -> None:
    """Run the load generator and, once its clients are in, py-spy for `seconds`."""
    thread = threading.Thread(target=lambda: result.update(loadgen(spec, 180)))
    thread.start()
    threading.Event().wait(setup_s + spec["clients"] / 500)  # the connect phase is not profiled
    subprocess.run(
        [py_spy, "record", "--pid", str(pid), "--duration", str(int(seconds)), "--rate", "250",
         "--format", "raw", "--output", str(raw), "--nonblocking"],
        check=True, capture_output=True, timeout=seconds + 60,
    )  # fmt: skip
    thread.join(240)


def record_storms(py_spy: str, pid: int, spec: dict, result: dict, storms: int, raw: Path) -> None:
    """py-spy over `storms` connect storms in a row (each connects, holds, disconnects)."""
    spy = subprocess.Popen(
        [py_spy, "record", "--pid", str(pid), "--duration", "600", "--rate", "250",
         "--format", "raw", "--output", str(raw), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        rates = [loadgen(spec, 120)["connect"]["connectsPerS"] for _ in range(storms)]
        result["runs"] = [{"connectsPerS": sum(rates) / len(rates)}]
    finally:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has when interrupted
        spy.wait(60)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workers", type=int, default=1, help="2: on redis (scenario 4)")
    parser.add_argument("--seconds", type=float, default=12.0)
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--kind", default="fanout", choices=["fanout", "rest", "message", "storm"])
    parser.add_argument("--storms", type=int, default=5, help="with --kind storm")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", help="keep py-spy's collapsed stacks here")
    parser.add_argument(
        "--every-member", action="store_true", help="with --kind message: all send (saturation)"
    )
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("py-spy is not installed: .venv/bin/pip install py-spy", file=sys.stderr)
        return 1
    ctx = new_context(FULL, 1, "gs-profile-")
    raw = Path(args.raw) if args.raw else ctx.workdir / "stacks.txt"
    run = {"kind": args.kind, "warmupS": 1, "durationS": args.seconds + 2, "drainS": 2}
    run["everyMember"] = args.every_member
    result: dict = {}
    if args.kind == "message":  # scenario 5: the product's own /v1/conversation
        with conversation_server(ctx, args.clients, workers=args.workers) as (server, tokens):
            spec = {**message_spec(ctx, server, tokens, args.clients), "runs": [run]}
            record(py_spy, server.pids[0], spec, result, args.seconds, raw, 8)
    elif args.kind == "storm":  # scenario 1: connects, one process
        with running("ours", 1, None, ctx) as server:
            spec = {**base_spec(server, ctx, args.clients), "scenario": "storm", "holdS": 1}
            record_storms(py_spy, server.pids[0], spec, result, args.storms, raw)
    else:
        no_redis = contextlib.nullcontext((None, None))
        redis = redis_server(ctx.workdir) if args.workers > 1 else no_redis
        with redis as (redis_url, _), running("ours", args.workers, redis_url, ctx) as server:
            spec = {**base_spec(server, ctx, args.clients), "scenario": "fanout", "ns": NS}
            spec["runs"] = [run]
            record(py_spy, server.pids[0], spec, result, args.seconds, raw, 4)
    runs = result.get("runs") or [{}]
    print(
        f"load during the profile: {runs[0].get('deliveriesPerS', 0):,.0f} deliveries/s, "
        f"{runs[0].get('requestsPerS', 0):,.0f} requests/s, {runs[0].get('acks', 0)} acks, "
        f"{runs[0].get('connectsPerS', 0):,.0f} connects/s, "
        f"server CPU {runs[0].get('serverCpu')}, other CPU {runs[0].get('otherCpu')}"
    )
    print(top_frames(raw, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
