"""metrics.count and metrics.observe: gathered in the process, written at each flush, exactly
what prometheus_client's own inc and observe would have written."""

from __future__ import annotations

import threading

from prometheus_client import CollectorRegistry, Counter, Histogram

from realtime import metrics


def samples(registry: CollectorRegistry) -> list[tuple[str, list[tuple[str, str]], float]]:
    return sorted(
        (sample.name, sorted(sample.labels.items()), sample.value)
        for family in registry.collect()
        for sample in family.samples
        if not sample.name.endswith("_created")
    )


def test_counts_wait_for_the_flush_and_then_add_up() -> None:
    counter = Counter("gathered_total", "test", ["ns"], registry=CollectorRegistry())
    for _ in range(3):
        metrics.count(counter, "/a")
    metrics.count(counter, "/a", n=4)
    metrics.count(counter, "/b")
    assert counter.labels("/a")._value.get() == 0  # not written yet...
    assert metrics.counted(counter, "/a") == 7  # ...but counted
    metrics.flush()
    assert (counter.labels("/a")._value.get(), counter.labels("/b")._value.get()) == (7, 1)
    metrics.flush()  # nothing twice
    assert metrics.counted(counter, "/a") == 7


def test_observations_make_the_histogram_that_observe_makes() -> None:
    """Every bucket edge and both ends: the gathered sum and bucket counts, written through
    the child's internals, give the exposition of the same values observed one by one."""
    buckets = (0.005, 0.01, 0.1, 1.0)
    gathered, direct = CollectorRegistry(), CollectorRegistry()
    histogram = Histogram("latency_seconds", "t", ["route"], buckets=buckets, registry=gathered)
    reference = Histogram("latency_seconds", "t", ["route"], buckets=buckets, registry=direct)
    values = [0.0, 0.001, 0.005, 0.0051, 0.01, 0.05, 0.1, 1.0, 1.5, 100.0, 0.005]
    for value in values:
        metrics.observe(histogram, "r", value=value)
        reference.labels("r").observe(value)
    assert samples(gathered) != samples(direct)  # waiting for the flush
    metrics.flush()
    assert samples(gathered) == samples(direct)


def test_counts_from_many_threads_are_all_kept() -> None:
    counter = Counter("threaded_total", "test", registry=CollectorRegistry())

    def count() -> None:
        for _ in range(5_000):
            metrics.count(counter)

    threads = [threading.Thread(target=count) for _ in range(4)]
    for thread in threads:
        thread.start()
    for _ in range(20):
        metrics.flush()  # flushes racing the counting threads lose nothing either
    for thread in threads:
        thread.join()
    metrics.flush()
    assert counter._value.get() == 20_000


def test_the_exposition_includes_what_was_gathered() -> None:
    metrics.count(metrics.EVENTS_IN, "/render-test", "join", n=5)
    text, _ = metrics.render()
    assert b'socketio_events_in_total{event="join",namespace="/render-test"} 5.0' in text, (
        text.decode()[:2000]
    )
