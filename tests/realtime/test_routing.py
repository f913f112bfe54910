"""The namespace table and the Engine.IO query: the same answers whether remembered or not."""

from __future__ import annotations

from realtime import routing
from realtime.engineio.server import MAX_CACHED_QUERY, parse_query
from realtime.namespace import NamespaceConsumer


class One(NamespaceConsumer):
    pass


class Other(NamespaceConsumer):
    pass


def router() -> routing.NamespaceRouter:
    return routing.NamespaceRouter(
        [
            routing.namespace("/one", One, kind="exact"),
            routing.re_namespace(r"/team-(?P<team>\w+)", Other),
        ]
    )


def test_resolving_again_gives_the_same_answer() -> None:
    table = router()
    for _ in range(2):
        assert table.resolve("/one") == routing.ResolvedNamespace(One, {"kind": "exact"})
        assert table.resolve("/team-red") == routing.ResolvedNamespace(Other, {"team": "red"})
        assert table.resolve("/nope") is None
        assert table.resolve("/one/") is None


def test_what_is_remembered_is_bounded(monkeypatch) -> None:
    monkeypatch.setattr(routing, "MAX_RESOLVED", 3)
    table = router()
    for n in range(10):
        assert table.resolve(f"/team-{n}") == routing.ResolvedNamespace(Other, {"team": str(n)})
    assert len(table._resolved) <= 3


def test_query_strings_short_and_long() -> None:
    assert parse_query({"query_string": b"EIO=4&transport=websocket"}) == {
        "EIO": "4",
        "transport": "websocket",
    }
    first = parse_query({"query_string": b"a=1&a=2&b="})
    first["a"] = "changed"  # a caller's own dict: the remembered answer is not touched
    assert parse_query({"query_string": b"a=1&a=2&b="}) == {"a": "1", "b": ""}
    long = b"sid=" + b"x" * MAX_CACHED_QUERY
    assert parse_query({"query_string": long}) == {"sid": "x" * MAX_CACHED_QUERY}
    assert parse_query({}) == {}
