"""Runs the fuzz cases against a live server in batches, bounded in count and time; after every
batch the server must answer `/status` and serve a normal python-socketio client.

Case `i` draws everything from `random.Random(seed, i)`, so a failure names the case and seed
that reproduce it.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx
import socketio

from tests.support.tokens import user_token

from .handshake_cases import HANDSHAKE_CASES
from .http_cases import HTTP_CASES
from .wire import STEP_TIMEOUT_S, Target, Unclean
from .ws_cases import WS_CASES

CASES = {**WS_CASES, **HANDSHAKE_CASES, **HTTP_CASES}
logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request would drown the report
CASE_TIMEOUT_S = 4 * STEP_TIMEOUT_S
MAX_FAILURES = 20

# what the fuzzed servers run with: a small maxPayload keeps oversized cases cheap, a short
# heartbeat lets sessions a case abandons go quickly
SERVER_ENV = {
    "SOCKETIO_MAX_PAYLOAD": "65536",
    "SOCKETIO_PING_INTERVAL_MS": "3000",
    "SOCKETIO_PING_TIMEOUT_MS": "3000",
}


def adapter_target(url: str) -> Target:
    """The test namespaces of `tests.support.namespaces` (tests.support.settings_adapter)."""
    return Target(
        url=url,
        max_payload=int(SERVER_ENV["SOCKETIO_MAX_PAYLOAD"]),
        fuzz_ns="/test",
        probe_ns="/other",
        probe_event="echo",
        probe_args=["probe"],
        probe_ok=lambda args: args == ["probe"],
        auth_ns="/private",
        echoes=True,
    )


def product_target(url: str) -> Target:
    """The product's namespaces (config.settings.test): /v1/shared with a user token,
    /v1/lead-finder (no auth) for the probe, /v1/conversation refusing bad credentials."""
    return Target(
        url=url,
        max_payload=int(SERVER_ENV["SOCKETIO_MAX_PAYLOAD"]),
        fuzz_ns="/v1/shared",
        fuzz_auth={"token": user_token("fuzz-user", "fuzz-account")},
        probe_ns="/v1/lead-finder",
        probe_event="join",
        probe_args=[{"job_id": "fuzz-probe"}],
        probe_ok=lambda args: isinstance(args[0], dict) and args[0].get("success") is True,
        auth_ns="/v1/conversation",
    )


@dataclass
class Report:
    tried: int = 0
    batches: int = 0
    seconds: float = 0.0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)

    def table(self) -> str:
        lines = [f"{'case':<28} {'outcome':<14} {'count':>6}"]
        for (name, outcome), count in sorted(self.outcomes.items()):
            lines.append(f"{name:<28} {outcome:<14} {count:>6}")
        lines.append(
            f"{self.tried} cases in {self.batches} batches, {self.seconds:.1f} s, "
            f"{len(self.failures)} unclean"
        )
        return "\n".join(lines)


async def healthy(target: Target, http: httpx.AsyncClient, transports: list[str]) -> None:
    """`/status` is 200 and a stock python-socketio client connects, emits and gets its ack."""
    status = await http.get(target.url + "/status")
    if status.status_code != 200 or status.json().get("success") is not True:
        raise Unclean(f"/status answered {status.status_code} {status.text[:200]!r}")
    client = socketio.AsyncClient(reconnection=False)
    try:
        await client.connect(
            target.url,
            namespaces=[target.probe_ns],
            auth=target.probe_auth or None,
            transports=transports,
            wait_timeout=STEP_TIMEOUT_S,
        )
        ack: Any = await client.call(
            target.probe_event,
            tuple(target.probe_args),
            namespace=target.probe_ns,
            timeout=STEP_TIMEOUT_S,
        )
        args = list(ack) if isinstance(ack, tuple) else [ack]
        if not target.probe_ok(args):
            raise Unclean(f"a normal client got the ack {ack!r}")
    finally:
        await client.disconnect()
        await client.shutdown()


async def run_fuzz(
    target: Target,
    *,
    cases: int,
    seconds: float,
    concurrency: int = 8,
    batch: int = 100,
    seed: int = 1,
) -> Report:
    """Up to `cases` cases, starting none after `seconds`; a health check after each batch."""
    names = list(CASES)
    weights = [CASES[name][1] for name in names]
    report = Report()
    started = time.monotonic()
    deadline = started + seconds
    gate = asyncio.Semaphore(concurrency)

    async def one(index: int) -> None:
        rng = random.Random(f"{seed}-{index}")
        name = rng.choices(names, weights)[0]
        async with gate:
            if time.monotonic() > deadline:
                return
            report.tried += 1
            try:
                outcome = await asyncio.wait_for(CASES[name][0](target, rng, http), CASE_TIMEOUT_S)
            except Unclean as exc:
                report.failures.append(f"{name} (case {index}, seed {seed}): {exc}")
            except TimeoutError:
                report.failures.append(f"{name} (case {index}, seed {seed}): no end in time")
            except Exception as exc:
                report.failures.append(f"{name} (case {index}, seed {seed}): {exc!r}")
            else:
                report.outcomes[(name, outcome)] += 1

    limits = httpx.Limits(max_connections=4 * concurrency)
    async with httpx.AsyncClient(timeout=CASE_TIMEOUT_S, limits=limits) as http:
        index = 0
        while index < cases and time.monotonic() < deadline:
            size = min(batch, cases - index)
            await asyncio.gather(*(one(i) for i in range(index, index + size)))
            index += size
            report.batches += 1
            transports = ["websocket"] if report.batches % 2 else ["polling", "websocket"]
            try:
                await healthy(target, http, transports)
            except Exception as exc:
                report.failures.append(f"health check after batch {report.batches}: {exc!r}")
            if len(report.failures) >= MAX_FAILURES:
                break
    report.seconds = time.monotonic() - started
    return report
