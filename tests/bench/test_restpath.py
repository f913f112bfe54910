"""bench/restpath.py: the in-process REST harness answers every emit with a 200 and delivers
each to its user's stand-in socket (so the CPU it reports is that of emits that succeed)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_every_emit_is_answered_200_and_delivered_once() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "restpath.py"), "--requests", "640"],
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "DJANGO_SETTINGS_MODULE": "config.settings.bench"},
    )
    assert run.returncode == 0, run.stderr
    spent = re.search(r"([0-9.]+) µs of CPU a request \((\d+) requests\)", run.stdout)
    counts = re.search(r"answers written: (\d+), deliveries: (\d+)", run.stdout)
    assert spent and counts, run.stdout
    assert float(spent.group(1)) > 0 and int(spent.group(2)) == 640
    assert counts.group(1) == counts.group(2)  # one answer and one delivery per request
    assert "last answer: HTTP/1.1 200 OK" in run.stdout
