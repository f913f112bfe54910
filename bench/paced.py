"""`bench/paced`: the paced fan-out latency alone, for comparisons finer than a full table.

One server start holds 1,000 clients in 10 rooms of 100 for `--runs` paced runs of
`--seconds` each (2,000 deliveries/s, as scenario 2), and the servers take turns in ABBA
order for `--rounds` rounds (`ours,node`: ours, node, node, ours, ...): the machine's speed
drifts within minutes, and a pair run in one order favours one side. Prints each start's
p50/p99 per run, then each server's mean and median over all its runs.

Each start first runs the fan-out at saturation for `--seconds`, not reported, as scenario 2
does before its paced run: socket.io's paced p99 is ~1 ms lower after it (its JIT warmed;
3.87 vs 4.95 ms over 18 runs each), ours is not, so runs without it (`--cold`) favour ours.

To compare two builds of ours, run it on each (a `git worktree`), alternating the same way.
A paced p99 moves by up to ~1.3 ms between runs of one build (bench/RESULTS.md, Noise):
compare a dozen runs or more a side.
"""

from __future__ import annotations

import argparse
import statistics

from bench import (
    FULL,
    SERVERS,
    Context,
    base_spec,
    ensure_dependencies,
    listed,
    loadgen,
    new_context,
    running,
    timed_runs,
)

CLIENTS = 1000


def paced_start(
    kind: str, ctx: Context, runs: int, cold: bool = False
) -> list[tuple[float, float]]:
    """(p50, p99) in ms of each paced run on one start of `kind`, after a saturation run
    unless `cold`."""
    paced = [{"kind": "fanout", "rate": ctx.plan["paced"]}] * runs
    first = [] if cold else [{"kind": "fanout", "rate": 0, "window": ctx.plan["window"]}]
    with running(kind, 1, None, ctx) as server:
        spec = {**base_spec(server, ctx, CLIENTS), "scenario": "fanout"}
        spec["runs"] = timed_runs(ctx, first + paced)
        result = loadgen(spec, 60 + len(spec["runs"]) * (ctx.plan["duration"] + 5))
    if "error" in result:
        raise RuntimeError(f"{kind}: {result['error']}")
    return [(run["latency"]["p50"], run["latency"]["p99"]) for run in result["runs"][len(first) :]]


def abba(kinds: list[str], rounds: int) -> list[str]:
    """The servers' turns: each round runs them forwards, then backwards."""
    return [kind for _ in range(rounds) for kind in (*kinds, *reversed(kinds))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--servers", default="ours,node", help=f"some of {','.join(SERVERS)}")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--runs", type=int, default=3, help="paced runs per server start")
    parser.add_argument("--seconds", type=float, default=5.0, help="each run's measured time")
    parser.add_argument(
        "--cold", action="store_true", help="no saturation run before the paced ones"
    )
    args = parser.parse_args()
    kinds = listed(parser, args.servers, list(SERVERS))
    ensure_dependencies()
    plan = {**FULL, "warmup": 0.5, "duration": args.seconds, "drain": 1.0}
    ctx = new_context(plan, 1, "gs-paced-")
    p99s: dict[str, list[float]] = {kind: [] for kind in kinds}
    p50s: dict[str, list[float]] = {kind: [] for kind in kinds}
    for kind in abba(kinds, args.rounds):
        runs = paced_start(kind, ctx, args.runs, args.cold)
        print(f"{kind:8} " + "  ".join(f"{p50:.2f}/{p99:.2f}" for p50, p99 in runs), flush=True)
        p50s[kind] += [p50 for p50, _ in runs]
        p99s[kind] += [p99 for _, p99 in runs]
    print("p50/p99 in ms; over all runs of each server:")
    for kind in kinds:
        print(
            f"{kind:8} p99 mean {statistics.mean(p99s[kind]):.2f} median "
            f"{statistics.median(p99s[kind]):.2f}, p50 mean {statistics.mean(p50s[kind]):.2f}"
            f" ({len(p99s[kind])} runs)"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
