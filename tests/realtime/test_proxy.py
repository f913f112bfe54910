"""Client addresses behind reverse proxies: X-Forwarded-For and -Proto believed from trusted
proxies only, the right-most untrusted hop taken as the client."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured

from realtime.proxy import ProxyHeadersMiddleware, forwarded_client

LOOPBACK = ("127.0.0.1", "::1")


def scope(peer: str, *headers: tuple[str, str], kind: str = "http") -> dict[str, Any]:
    return {
        "type": kind,
        "scheme": "ws" if kind == "websocket" else "http",
        "client": (peer, 50_000),
        "headers": [(name.encode(), value.encode()) for name, value in headers],
    }


def client_of(peer: str, *headers: tuple[str, str], trusted: tuple[str, ...] = LOOPBACK) -> str:
    return forwarded_client(scope(peer, *headers), trusted)["client"][0]


XFF = "x-forwarded-for"


def test_an_untrusted_peer_cannot_claim_an_address() -> None:
    assert client_of("203.0.113.7", (XFF, "127.0.0.1")) == "203.0.113.7"
    assert client_of("203.0.113.7", (XFF, "10.1.1.1, 127.0.0.1")) == "203.0.113.7"


def test_a_trusted_proxy_names_the_client() -> None:
    assert client_of("127.0.0.1", (XFF, "198.51.100.4")) == "198.51.100.4"
    assert client_of("::1", (XFF, "198.51.100.4")) == "198.51.100.4"
    assert client_of("127.0.0.1") == "127.0.0.1"  # no header: the peer itself
    assert client_of("127.0.0.1", (XFF, " , ")) == "127.0.0.1"


def test_the_right_most_untrusted_hop_is_the_client() -> None:
    # nginx's $proxy_add_x_forwarded_for appends what it saw to what the client claimed
    assert client_of("127.0.0.1", (XFF, "127.0.0.1, 198.51.100.4")) == "198.51.100.4"
    chain = "6.6.6.6, 198.51.100.4, 10.0.0.2"
    assert client_of("10.0.0.1", (XFF, chain), trusted=("10.0.0.0/8",)) == "198.51.100.4"
    assert client_of("127.0.0.1", (XFF, "1.1.1.1"), (XFF, "2.2.2.2")) == "2.2.2.2"
    assert client_of("127.0.0.1", (XFF, "127.0.0.2, ::1")) == "127.0.0.2"  # all trusted: first


def test_trusting_everyone_is_daphnes_proxy_headers() -> None:
    assert client_of("203.0.113.7", (XFF, "1.2.3.4"), trusted=("*",)) == "1.2.3.4"
    assert client_of("203.0.113.7", (XFF, "1.2.3.4"), trusted=()) == "203.0.113.7"


def test_the_scheme_from_a_trusted_proxy() -> None:
    proto = ("x-forwarded-proto", "https")
    assert forwarded_client(scope("127.0.0.1", proto), LOOPBACK)["scheme"] == "https"
    ws = scope("127.0.0.1", proto, kind="websocket")
    assert forwarded_client(ws, LOOPBACK)["scheme"] == "wss"
    assert forwarded_client(scope("203.0.113.7", proto), LOOPBACK)["scheme"] == "http"
    junk = ("x-forwarded-proto", "gopher")
    assert forwarded_client(scope("127.0.0.1", junk), LOOPBACK)["scheme"] == "http"


def test_a_bad_setting_fails_at_start(settings: Any) -> None:
    settings.REALTIME = {**settings.REALTIME, "TRUSTED_PROXIES": ["10.0.0.0/8", "not-an-ip"]}
    with pytest.raises(ImproperlyConfigured, match="TRUSTED_PROXIES"):
        ProxyHeadersMiddleware(lambda *args: None)
