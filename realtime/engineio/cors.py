"""CORS for the long-polling transport and the WebSocket Origin check."""

from collections.abc import Iterable


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """No Origin header (a non-browser client) is always allowed; `*` allows every origin."""
    if not origin:
        return True
    allowed = list(allowed)
    return "*" in allowed or origin.rstrip("/") in {a.rstrip("/") for a in allowed}


def cors_headers(origin: str | None, allowed: Iterable[str]) -> list[tuple[bytes, bytes]]:
    """Response headers for a request from `origin`; none when it is absent or refused."""
    if not origin or not origin_allowed(origin, allowed):
        return []
    return [
        (b"access-control-allow-origin", origin.encode("latin-1")),
        (b"access-control-allow-credentials", b"true"),
        (b"vary", b"Origin"),
    ]


PREFLIGHT_HEADERS = [
    (b"access-control-allow-methods", b"GET, POST, OPTIONS"),
    (b"access-control-allow-headers", b"content-type, authorization, x-token"),
    (b"access-control-max-age", b"86400"),
]
