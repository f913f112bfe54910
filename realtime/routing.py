"""The namespace table: namespace paths to consumer classes, like Channels' URLRouter."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .namespace import NamespaceConsumer


@dataclass(frozen=True)
class NamespaceRoute:
    pattern: re.Pattern[str]
    consumer: type[NamespaceConsumer]
    kwargs: dict[str, Any] = field(default_factory=dict)


def namespace(path: str, consumer: type[NamespaceConsumer], **kwargs: Any) -> NamespaceRoute:
    """An exact namespace path, e.g. `namespace("/v1/shared", SharedConsumer)`."""
    if not path.startswith("/"):
        raise ValueError(f"a namespace starts with '/': {path!r}")
    return NamespaceRoute(re.compile(re.escape(path) + r"\Z"), consumer, kwargs)


def re_namespace(pattern: str, consumer: type[NamespaceConsumer], **kwargs: Any) -> NamespaceRoute:
    """A namespace pattern; named groups reach the consumer as `self.namespace_kwargs`."""
    return NamespaceRoute(re.compile(pattern), consumer, kwargs)


@dataclass(frozen=True)
class ResolvedNamespace:
    consumer: type[NamespaceConsumer]
    kwargs: dict[str, Any]


MAX_RESOLVED = 1024  # namespaces remembered: clients name them, so the memory is bounded


class NamespaceRouter:
    """Finds the consumer class for a namespace; the first matching route wins. Answers are
    remembered (every connect resolves its namespace); their `kwargs` are not to be mutated."""

    def __init__(self, routes: list[NamespaceRoute]) -> None:
        self.routes = list(routes)
        self._resolved: dict[str, ResolvedNamespace | None] = {}

    def resolve(self, path: str) -> ResolvedNamespace | None:
        try:
            return self._resolved[path]
        except KeyError:
            pass
        if len(self._resolved) >= MAX_RESOLVED:
            self._resolved.clear()
        resolved = self._resolved[path] = self._match(path)
        return resolved

    def _match(self, path: str) -> ResolvedNamespace | None:
        for route in self.routes:
            match = route.pattern.fullmatch(path)
            if match is not None:
                return ResolvedNamespace(route.consumer, {**route.kwargs, **match.groupdict()})
        return None
