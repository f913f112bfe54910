"""A piece of the load generator's JavaScript (bench/loadgen) run in node from a test."""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path
from typing import Any

import pytest

LOADGEN = Path(__file__).resolve().parents[2] / "bench" / "loadgen"


async def run_module(source: str, *args: str, timeout: float = 20.0) -> Any:
    """Run `source` as an ES module (`%(loadgen)s` in it: the load generator's folder) with
    `args` (its `process.argv[1:]`); the last line it printed, read as JSON."""
    if shutil.which("node") is None:
        pytest.fail("the load generator needs node")
    process = await asyncio.create_subprocess_exec(
        "node",
        "--input-type=module",
        "-e",
        source % {"loadgen": LOADGEN},
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode == 0, err.decode()
    return json.loads(out.decode().strip().splitlines()[-1])
