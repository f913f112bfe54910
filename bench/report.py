"""The bench's one table: each scenario's figures, ours beside each reference, with ratios;
and the generated part of bench/RESULTS.md (the hand-written notes around it are kept)."""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BEGIN = "<!-- bench/run: generated table, begin -->"
END = "<!-- bench/run: generated table, end -->"
NAMES = {
    "ours": "ours (uvicorn)",
    "daphne": "ours on daphne",
    "node": "socket.io (node)",
    "python": "python-socketio",
    "djangosio": "django-sio",
}

Getter = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str
    key: str  # results[key][server]
    get: Getter
    unit: str = ""
    better: str = ""  # "high", "low", or "" for no ratio


def dig(result: dict[str, Any], *path: Any) -> Any:
    value: Any = result
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and isinstance(step, int) and step < len(value):
            value = value[step]
        else:
            return None
    return value


def run(index: int, *path: Any) -> Getter:
    return lambda result: dig(result, "runs", index, *path)


def cpu(index: int, with_aux: bool = False) -> Getter:
    def get(result: dict[str, Any]) -> str | None:
        r = dig(result, "runs", index)
        if not r:
            return None
        parts = [r["serverCpu"], *([r["auxCpu"]] if with_aux else []), r["loadgenCpu"]]
        return " / ".join(f"{part:.2f}" for part in [*parts, r["otherCpu"]])

    return get


def storm_cpu(result: dict[str, Any]) -> str | None:
    c = result.get("connect")
    if not c:
        return None
    return f"{c['serverCpuS']:.1f} / {c['loadgenCpuS']:.1f} / {c['otherCpuS']:.1f} s"


def delivered_share(index: int) -> Getter:
    def get(result: dict[str, Any]) -> str | None:
        r = dig(result, "runs", index)
        if not r or not r.get("expectedDeliveries"):
            return None
        share = 100 * r["deliveredTotal"] / r["expectedDeliveries"]
        return f"{share:.1f} %, {r['disconnects']} dropped"

    return get


def connected(result: dict[str, Any]) -> str | None:
    c = result.get("connect")
    if not c:
        return None
    split = "+".join(str(n) for n in sorted(c.get("byTag", {}).values(), reverse=True))
    return f"{c['connected']}/{c['clients']}" + (f" ({split})" if "+" in split else "")


def message_rate(index: int) -> Getter:
    def get(result: dict[str, Any]) -> float | None:
        r = dig(result, "runs", index)
        return r["ackLatency"]["n"] / r["seconds"] if r else None

    return get


def connect_rows(s: str, k: str, prefix: str, rss: str, cpu: str) -> list[Row]:
    """The connect phase's figures: scenario 1's, and scenario 4's across two processes."""

    def connect(*keys: str) -> Getter:
        return lambda r: dig(r, "connect", *keys)

    return [
        Row(s, f"{prefix}connects/s", k, connect("connectsPerS"), "", "high"),
        Row(s, f"{prefix}time to joined p50", k, connect("timeToJoined", "p50"), "ms", "low"),
        Row(s, f"{prefix}time to joined p99", k, connect("timeToJoined", "p99"), "ms", "low"),
        Row(s, rss, k, connect("rssPerConnKiB"), "KiB", "low"),
        Row(s, cpu, k, storm_cpu),
    ]


def rows(plan: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    for n in plan["storm"]:
        s, k = f"1. connect storm, {n:,} clients", f"storm{n}"
        out += [
            Row(s, "connected", k, connected),
            *connect_rows(s, k, "", "server RSS per connection", "CPU server / loadgen / other"),
        ]
    clients, rooms = plan["clients"], plan["rooms"]
    s, k = f"2. fan-out, {clients:,} clients in {rooms} rooms", "fanout"
    out += [
        Row(s, "connected", k, connected),
        Row(s, "saturation: deliveries/s", k, run(0, "deliveriesPerS"), "", "high"),
        Row(s, "saturation: latency p50", k, run(0, "latency", "p50"), "ms", "low"),
        Row(s, "saturation: latency p99", k, run(0, "latency", "p99"), "ms", "low"),
        Row(s, "saturation: CPU server / loadgen / other", k, cpu(0)),
        Row(s, "saturation: delivered", k, delivered_share(0)),
        Row(s, f"paced {plan['paced']:,}/s: deliveries/s", k, run(1, "deliveriesPerS")),
        Row(s, f"paced {plan['paced']:,}/s: latency p50", k, run(1, "latency", "p50"), "ms", "low"),
        Row(s, f"paced {plan['paced']:,}/s: latency p99", k, run(1, "latency", "p99"), "ms", "low"),
        Row(s, f"paced {plan['paced']:,}/s: CPU server / loadgen / other", k, cpu(1)),
    ]
    s = f"3. REST emit to user:<id>, {plan['rest_concurrency']} in flight"
    out += [
        Row(s, "requests/s", k, run(2, "requestsPerS"), "", "high"),
        Row(s, "HTTP latency p50", k, run(2, "httpLatency", "p50"), "ms", "low"),
        Row(s, "HTTP latency p99", k, run(2, "httpLatency", "p99"), "ms", "low"),
        Row(s, "delivery latency p50", k, run(2, "latency", "p50"), "ms", "low"),
        Row(s, "delivery latency p99", k, run(2, "latency", "p99"), "ms", "low"),
        Row(s, "CPU server / loadgen / other", k, cpu(2)),
    ]
    s, k = f"4. two processes on redis-server, {clients:,} clients", "cluster"
    out += [
        Row(s, "connected (per process)", k, connected),
        *connect_rows(
            s,
            k,
            "connects: ",
            "connects: RSS per connection (both processes)",
            "connects: CPU servers / loadgen / other",
        ),
        Row(s, "saturation: deliveries/s", k, run(0, "deliveriesPerS"), "", "high"),
        Row(s, "saturation: local p50", k, run(0, "latencyLocal", "p50"), "ms", "low"),
        Row(s, "saturation: local p99", k, run(0, "latencyLocal", "p99"), "ms", "low"),
        Row(s, "saturation: cross-process p50", k, run(0, "latencyCross", "p50"), "ms", "low"),
        Row(s, "saturation: cross-process p99", k, run(0, "latencyCross", "p99"), "ms", "low"),
        Row(s, "saturation: CPU servers / redis / loadgen / other", k, cpu(0, True)),
        Row(s, "saturation: delivered", k, delivered_share(0)),
        Row(s, f"paced {plan['paced']:,}/s: local p50", k, run(1, "latencyLocal", "p50"), "ms", "low"),  # noqa: E501
        Row(s, f"paced {plan['paced']:,}/s: local p99", k, run(1, "latencyLocal", "p99"), "ms", "low"),  # noqa: E501
        Row(s, f"paced {plan['paced']:,}/s: cross-process p50", k, run(1, "latencyCross", "p50"), "ms", "low"),  # noqa: E501
        Row(s, f"paced {plan['paced']:,}/s: cross-process p99", k, run(1, "latencyCross", "p99"), "ms", "low"),  # noqa: E501
        Row(s, "REST: requests/s", k, run(2, "requestsPerS"), "", "high"),
        Row(s, "REST: delivery p50", k, run(2, "latency", "p50"), "ms", "low"),
        Row(s, "REST: delivery p99", k, run(2, "latency", "p99"), "ms", "low"),
        Row(s, "REST: CPU servers / redis / loadgen / other", k, cpu(2, True)),
    ]  # fmt: skip
    conversations, members = plan["conversations"], plan["members"]
    title = f"5. /v1/conversation `message`, {conversations} conversations of {members}"
    for workers, suffix in (("", ""), (", two workers on redis", "_2w")):
        for database, key in (("SQLite", "message"), ("PostgreSQL", "message_pg")):
            out += message_rows(
                f"{title}, {database}{workers}", key + suffix, conversations, members
            )
    return out


def message_rows(s: str, k: str, conversations: int, members: int) -> list[Row]:
    """Scenario 5's two runs: one sender per conversation (a closed loop of `conversations`
    messages in flight, so its rate is `conversations` / ack latency), then every member
    sending (`conversations * members` in flight: the server at saturation)."""
    out = [Row(s, "conversations created", k, lambda r: dig(r, "setup", "acks"))]
    for i, senders in enumerate((conversations, conversations * members)):
        p = f"{senders:,} senders: " if i == 0 else f"saturation, {senders:,} senders: "
        out += [
            Row(s, f"{p}messages/s (acked)", k, message_rate(i), "", "high"),
            Row(s, f"{p}ack latency p50", k, run(i, "ackLatency", "p50"), "ms", "low"),
            Row(s, f"{p}ack latency p99", k, run(i, "ackLatency", "p99"), "ms", "low"),
            Row(s, f"{p}new_message deliveries/s", k, run(i, "deliveriesPerS"), "", "high"),
            Row(s, f"{p}delivery latency p50", k, run(i, "latency", "p50"), "ms", "low"),
            Row(s, f"{p}delivery latency p99", k, run(i, "latency", "p99"), "ms", "low"),
            Row(s, f"{p}CPU server / loadgen / other", k, cpu(i)),
        ]
    return out


def fmt(value: Any, unit: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, str):
        return value
    if unit == "ms":
        return f"{value:.1f} ms" if value < 100 else f"{value:,.0f} ms"
    whole = abs(value) >= 100 or float(value).is_integer()
    text = f"{value:,.0f}" if whole else f"{value:.1f}"
    return f"{text} {unit}".strip()


def ratio(ours: Any, ref: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(ref, int | float):
        return ""
    if math.isnan(ours) or math.isnan(ref) or ref == 0:
        return ""
    value = ours / ref
    return f"x{value:.2f}" if value >= 0.1 else f"x{value:.3f}"


def combined(values: list[Any], unit: str) -> str:
    """The median of repeated measurements, and ± half their spread relative to it."""
    numbers = [v for v in values if isinstance(v, int | float) and not math.isnan(v)]
    if not numbers:
        return fmt(next((v for v in values if v is not None), None), unit)
    middle = statistics.median(numbers)
    text = fmt(middle, unit)
    if len(numbers) > 1 and middle:
        text += f" ±{50 * (max(numbers) - min(numbers)) / abs(middle):.0f}%"
    return text


def median_of(values: list[Any]) -> Any:
    numbers = [v for v in values if isinstance(v, int | float) and not math.isnan(v)]
    return statistics.median(numbers) if numbers else None


def render(repeats: list[dict[str, Any]], kinds: list[str], plan: dict[str, Any]) -> str:
    refs = [kind for kind in kinds if kind != "ours"]
    header = ["scenario", "metric", NAMES["ours"]]
    for ref in refs:
        header += [NAMES.get(ref, ref), "ours / it"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    errors: list[str] = []
    last_scenario = None
    for row in rows(plan):
        if all(row.key not in results for results in repeats):
            continue
        present = {kind for results in repeats for kind in results.get(row.key, {})}
        values: dict[str, list[Any]] = {}
        for kind in kinds:
            values[kind] = []
            for results in repeats:
                result = results.get(row.key, {}).get(kind)
                if result is None:
                    continue
                values[kind].append(row.get(result) if not result.get("error") else None)
                for error in error_texts(result):
                    line = f"{row.key} / {NAMES.get(kind, kind)}: {error}"
                    if line not in errors:
                        errors.append(line)
        cells = [row.scenario if row.scenario != last_scenario else "", row.metric]
        last_scenario = row.scenario
        cells.append(combined(values["ours"], row.unit) if "ours" in present else "n/a")
        for ref in refs:
            if ref not in present:
                cells += ["n/a", ""]
                continue
            cells.append(combined(values[ref], row.unit))
            ours, theirs = median_of(values.get("ours", [])), median_of(values[ref])
            cells.append(ratio(ours, theirs) if row.better else "")
        lines.append("| " + " | ".join(cells) + " |")
    if errors:
        lines += ["", "Errors:", *(f"- {error}" for error in errors)]
    return "\n".join(lines)


def error_texts(result: dict[str, Any]) -> list[str]:
    found = []
    for part in [result, result.get("connect") or {}, result.get("setup") or {}]:
        if part.get("error"):
            found.append(str(part["error"])[:300])
    for r in result.get("runs") or []:
        if r.get("error"):
            found.append(str(r["error"])[:300])
    return found


def write_results(path: Path, table: str, machine: dict[str, str]) -> None:
    """Replace the generated part of RESULTS.md; keep the notes written around it."""
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    info = "\n".join(f"- {name}: {value}" for name, value in machine.items())
    generated = f"{BEGIN}\nRun {stamp}.\n\n{info}\n\n{table}\n{END}"
    text = path.read_text() if path.exists() else f"# Bench results\n\n{BEGIN}\n{END}\n"
    head, _, rest = text.partition(BEGIN)
    _, _, tail = rest.partition(END)
    path.write_text(head + generated + tail)
