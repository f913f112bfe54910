"""The ASGI servers `manage.py serve` runs its workers on: uvicorn (default) or daphne.

Both serve the same application on the one inherited listening socket. uvicorn (uvloop,
httptools, the `websockets` library) is the default because it is faster on every bench
scenario (bench/RESULTS.md); daphne stays supported (`serve --server daphne`).

A uvicorn worker is `python -m realtime.asgiservers <fd> [<cert> <key>]` rather than the uvicorn
command line, so that Django's LOGGING alone configures logging (JSON lines included) and the
options below hold whatever uvicorn's defaults become:
- no proxy headers: realtime.proxy believes X-Forwarded-For from TRUSTED_PROXIES only;
- no WebSocket compression, pings or message queue of uvicorn's own: Engine.IO has its
  heartbeat and the session its bounded queue; socket.io does not compress by default either;
- a WebSocket message limit just above MAX_PAYLOAD, so the adapter answers an oversized
  message itself (close 1009 from uvicorn only past that);
- no access log (the REST API counts requests in /metrics), no lifespan (the app needs none);
- uvicorn's own protocols, subclassed: the WebSocket handshake from httptools' parse
  (realtime.wsprotocol), a response's head and body in one write and the application's direct
  routes answered without the ASGI cycle (realtime.httpprotocol, realtime.directhttp).
"""

from __future__ import annotations

import socket
import sys
from typing import Any

SERVERS = ("uvicorn", "daphne")
DEFAULT_SERVER = "uvicorn"
APPLICATION = "config.asgi:application"
DAPHNE_APPLICATION = "config.asgi_daphne:application"  # the same, the collector settled
WS_MAX_SIZE_MARGIN = 64 * 1024  # frame and packet overhead above MAX_PAYLOAD


def worker_command(server: str, fd: int, *, tls: tuple[str, str] | None) -> list[str]:
    """The command line of one worker serving inherited socket `fd`."""
    if server == "uvicorn":
        return [sys.executable, "-m", __name__, str(fd), *(tls or ())]
    if server == "daphne":
        return _daphne_command(fd, tls=tls)
    raise ValueError(f"unknown ASGI server {server!r}; one of {', '.join(SERVERS)}")


def _daphne_command(fd: int, *, tls: tuple[str, str] | None) -> list[str]:
    from . import tls as daphne_tls  # Twisted: only where daphne runs

    # no daphne --proxy-headers, which believes X-Forwarded-For from anyone (a client would
    # pass for a loopback address to the REST API's access policy)
    options = ["--fd", str(fd)]
    if tls:  # the same inherited socket, with TLS (realtime.tls)
        options = ["-e", daphne_tls.endpoint_description(fd, *tls)]
    # no access log: a plain-text line per request (1% of a REST emit's time), whatever
    # LOG_FORMAT says; the REST API counts its requests in /metrics
    options += ["--verbosity", "0"]
    return [
        sys.executable, "-m", "daphne", *options,
        "--application-close-timeout", "5", DAPHNE_APPLICATION,
    ]  # fmt: skip


def uvicorn_config(fd: int, tls: tuple[str, str] | None = None, app: Any = APPLICATION) -> Any:
    """The uvicorn configuration of one worker (imports the application when loaded)."""
    import uvicorn

    from .conf import realtime_settings

    return uvicorn.Config(
        app,
        fd=fd,
        loop="uvloop",
        http="realtime.httpprotocol:HttpProtocol",  # httptools, head and body in one write
        ws="realtime.wsprotocol:WebSocketProtocol",  # websockets-sansio, handshake from httptools
        ws_max_size=int(realtime_settings.MAX_PAYLOAD) + WS_MAX_SIZE_MARGIN,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_per_message_deflate=False,
        lifespan="off",
        access_log=False,
        proxy_headers=False,
        server_header=False,
        log_config=None,
        ssl_certfile=tls[0] if tls else None,
        ssl_keyfile=tls[1] if tls else None,
        timeout_graceful_shutdown=5,
    )


def run_uvicorn_worker(argv: list[str]) -> None:
    fd, tls = int(argv[0]), (argv[1], argv[2]) if len(argv) == 3 else None
    uvicorn_server(fd, tls).run(sockets=[inherited_listener(fd)])


def uvicorn_server(fd: int, tls: tuple[str, str] | None = None) -> Any:
    """A uvicorn server of one worker, its application loaded and the collector settled."""
    import django
    import uvicorn

    from .collector import settle_after_startup
    from .switchinterval import set_switch_interval

    django.setup()  # settings and LOGGING before uvicorn logs its first line
    config = uvicorn_config(fd, tls)
    config.load()  # the application imported: what the collector need never scan again
    settle_after_startup()
    set_switch_interval()
    return uvicorn.Server(config)


def inherited_listener(fd: int) -> socket.socket:
    """The inherited listening socket as what it is (AF_INET, IPPROTO_TCP). uvicorn's `fd=`
    takes it for AF_UNIX, so the event loop leaves Nagle on for every connection: a frame
    written right after another (an ack after its `new_message`) then waits ~40 ms for the
    client's delayed ACK."""
    return socket.socket(fileno=fd)


if __name__ == "__main__":
    run_uvicorn_worker(sys.argv[1:])
