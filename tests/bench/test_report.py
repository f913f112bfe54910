"""The bench's table (bench/report.py) from made-up results: the rows each scenario shows, the
ratios, and a run without our server (references only)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

REPORT = Path(__file__).resolve().parents[2] / "bench" / "report.py"
PLAN = {"storm": [1000], "clients": 1000, "rooms": 10, "paced": 2000, "rest_concurrency": 32}
PLAN |= {"conversations": 100, "members": 10}


def load_report() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_report", REPORT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def cluster_result(connects_per_s: float) -> dict[str, Any]:
    connect = {
        "clients": 1000,
        "connected": 1000,
        "connectsPerS": connects_per_s,
        "timeToJoined": {"p50": 150.0, "p99": 300.0},
        "rssPerConnKiB": 27.5,
        "serverCpuS": 0.7,
        "loadgenCpuS": 0.5,
        "otherCpuS": 0.1,
        "byTag": {"0": 500, "1": 500},
    }
    return {"connect": connect, "runs": []}


def line_of(table: str, metric: str) -> list[str]:
    for line in table.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if len(cells) > 1 and cells[1] == metric:
            return cells
    raise AssertionError(f"no row {metric!r} in\n{table}")


def test_scenario_4_shows_its_connect_storm_with_ratios() -> None:
    report = load_report()
    repeats = [{"cluster": {"ours": cluster_result(1500.0), "node": cluster_result(1200.0)}}]
    table = report.render(repeats, ["ours", "node"], PLAN)
    assert line_of(table, "connected (per process)")[2] == "1000/1000 (500+500)"
    assert line_of(table, "connects: connects/s")[2:] == ["1,500", "1,200", "x1.25"]
    assert line_of(table, "connects: time to joined p99")[2:] == ["300 ms", "300 ms", "x1.00"]
    rss = line_of(table, "connects: RSS per connection (both processes)")
    assert rss[2:4] == ["27.5 KiB", "27.5 KiB"]
    cpu = line_of(table, "connects: CPU servers / loadgen / other")
    assert cpu[2] == "0.7 / 0.5 / 0.1 s"


def test_a_table_of_references_only_has_no_ratios() -> None:
    report = load_report()
    repeats = [{"cluster": {"node": cluster_result(1200.0)}}]
    table = report.render(repeats, ["node"], PLAN)
    assert line_of(table, "connects: connects/s")[2:] == ["n/a", "1,200", ""]
