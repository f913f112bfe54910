"""metrics.child: the same child prometheus_client gives, cached and bounded."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

from realtime import metrics


def test_child_is_the_labelled_child_and_counts_into_it(monkeypatch) -> None:
    counter = Counter("child_test_total", "test", ["a", "b"], registry=CollectorRegistry())
    metrics.child(counter, "x", "y").inc()
    metrics.child(counter, "x", "y").inc(2)
    assert metrics.child(counter, "x", "y") is counter.labels("x", "y")
    assert counter.labels("x", "y")._value.get() == 3


def test_the_cache_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(metrics, "MAX_CHILDREN", 3)
    monkeypatch.setattr(metrics, "_children", {})
    counter = Counter("child_bound_total", "test", ["a"], registry=CollectorRegistry())
    for n in range(10):
        metrics.child(counter, str(n)).inc()
    assert len(metrics._children) <= 3
    assert sum(counter.labels(str(n))._value.get() for n in range(10)) == 10
