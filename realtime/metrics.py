"""Prometheus metrics of the realtime server; aggregated over `serve`'s workers.

With PROMETHEUS_MULTIPROC_DIR set (the `serve` command sets it for its workers), every process
writes its samples there and `/metrics` on any worker reports the sum. Label values come from
the server's own vocabulary only (namespaces, handler names, reasons), never from raw client
input, so a client cannot grow the label set.
"""

from __future__ import annotations

import asyncio
import atexit
import os
import threading
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess

SOCKETS = Gauge("socketio_sockets", "Connected sockets", ["namespace"], multiprocess_mode="livesum")
SESSIONS = Gauge(
    "engineio_sessions", "Open Engine.IO sessions", ["transport"], multiprocess_mode="livesum"
)
CONNECTS = Counter("socketio_connects_total", "Accepted namespace connects", ["namespace"])
REFUSALS = Counter(
    "socketio_connect_refusals_total", "Refused namespace connects", ["namespace", "reason"]
)
DISCONNECTS = Counter(
    "socketio_disconnects_total", "Namespace disconnects", ["namespace", "reason"]
)
EVENTS_IN = Counter("socketio_events_in_total", "Client events handled", ["namespace", "event"])
EVENTS_OUT = Counter(
    "socketio_events_out_total", "Events emitted (a broadcast counts once)", ["namespace", "event"]
)
DELIVERIES = Counter("socketio_deliveries_total", "Event packets written to sockets", ["namespace"])
LAYER_ERRORS = Counter(
    "channel_layer_errors_total", "Channel layer operations that failed", ["operation"]
)
LAYER_DROPS = Counter(
    "channel_layer_drops_total", "Messages dropped because a channel was full", ["operation"]
)
FORWARDED = Counter(
    "engineio_forwarded_total", "Requests forwarded to the process owning the session", ["kind"]
)
API_REQUESTS = Counter("emit_api_requests_total", "REST API requests", ["route", "status"])
API_LATENCY = Histogram("emit_api_request_seconds", "REST API request latency", ["route"])
PUSHES = Counter("push_notifications_total", "Push notifications by outcome", ["outcome"])
# per process (a `pid` label with several workers), sampled every SAMPLE_S: what a leak shows in
TASKS = Gauge(
    "process_asyncio_tasks", "asyncio tasks of the server's event loop", multiprocess_mode="liveall"
)
LAYER_GROUPS = Gauge(
    "channel_layer_groups", "Channel-layer groups the process is in", multiprocess_mode="liveall"
)
SAMPLE_S = 1.0
MAX_CHILDREN = 10_000  # a bound on the cache below, whatever the label values turn out to be

_children: dict[tuple[Any, ...], Any] = {}


def child(metric: Any, *labels: str) -> Any:
    """`metric.labels(*labels)` (the metric itself without labels), cached: prometheus_client
    takes a lock and checks the values on every call."""
    key = (metric, *labels)
    found = _children.get(key)
    if found is None:
        if len(_children) >= MAX_CHILDREN:
            _children.clear()
        found = _children[key] = metric.labels(*labels) if labels else metric
    return found


_pending: dict[tuple[Any, ...], float] = {}  # count(): (metric, *labels) -> n
_pending_observed: dict[tuple[Any, ...], list[Any]] = {}  # observe(): -> [sum, {bucket: n}]
_pending_lock = threading.Lock()  # emits run in other threads too (emit_sync, DRF views)


def count(metric: Any, *labels: str, n: float = 1) -> None:
    """Add `n` to a counter's child at the next `flush`.

    For the hot paths: each event in and out, each broadcast's deliveries and each REST emit.
    prometheus_client's own `inc` takes a lock, checks its value and, in multiprocess mode,
    writes to a memory-mapped file: ~10 % of a REST emit's CPU on the bench (scenario 3 with
    no metrics at all: 12.9k against 11.7k requests/s). Here it is one addition to a dict.
    The server's sampler flushes every SAMPLE_S, `render` before it reads, and the process
    at its exit: /metrics may show another worker's counts up to SAMPLE_S late, well inside
    a scrape interval.
    """
    key = (metric, *labels)
    with _pending_lock:
        _pending[key] = _pending.get(key, 0) + n


def observe(metric: Any, *labels: str, value: float) -> None:
    """`observe(value)` on a histogram's child at the next `flush`, as `count` counts: the sum
    and the bucket's count gathered here, written with one `inc` each."""
    key = (metric, *labels)
    bucket = bisect_left(child(metric, *labels)._upper_bounds, value)  # value <= bound
    with _pending_lock:
        gathered = _pending_observed.get(key)
        if gathered is None:
            gathered = _pending_observed[key] = [0.0, {}]
        gathered[0] += value
        gathered[1][bucket] = gathered[1].get(bucket, 0) + 1


def flush() -> None:
    """Write what `count` and `observe` gathered to prometheus_client. The histograms go
    through its children's sum and buckets (what `Histogram.observe` increments; a test holds
    the result to `observe`'s)."""
    global _pending, _pending_observed
    with _pending_lock:
        pending, _pending = _pending, {}
        observed, _pending_observed = _pending_observed, {}
    for (metric, *labels), n in pending.items():
        child(metric, *labels).inc(n)
    for (metric, *labels), (total, buckets) in observed.items():
        histogram = child(metric, *labels)
        histogram._sum.inc(total)
        for bucket, n in buckets.items():
            histogram._buckets[bucket].inc(n)


def counted(metric: Any, *labels: str) -> float:
    """A counter child's value, what `count` has not flushed yet included."""
    with _pending_lock:
        waiting = _pending.get((metric, *labels), 0)
    return float(child(metric, *labels)._value.get() + waiting)


atexit.register(flush)


def sample_process(loop: asyncio.AbstractEventLoop, groups: Callable[[], int]) -> None:
    """Flush the counts and set the per-process gauges, now and again every SAMPLE_S (a
    timer, not a task)."""
    loop.call_later(SAMPLE_S, sample_process, loop, groups)
    flush()
    TASKS.set(len(asyncio.all_tasks(loop)))
    LAYER_GROUPS.set(groups())


def render() -> tuple[bytes, str]:
    """The exposition text: this process's metrics, or every worker's with multiprocess."""
    flush()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        prometheus_multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    from prometheus_client import REGISTRY

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST


def mark_process_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (the supervisor calls this)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        prometheus_multiprocess.mark_process_dead(pid)
