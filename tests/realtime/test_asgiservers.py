"""The worker commands of `serve`: uvicorn's options, daphne's command line."""

from __future__ import annotations

import pytest

from realtime import asgiservers, collector, switchinterval
from realtime.conf import realtime_settings


def test_uvicorn_leaves_proxy_headers_logging_and_heartbeats_to_the_project() -> None:
    config = asgiservers.uvicorn_config(7)
    assert config.fd == 7
    assert config.proxy_headers is False  # realtime.proxy trusts TRUSTED_PROXIES only
    assert config.log_config is None  # Django's LOGGING (JSON lines included)
    assert config.access_log is False
    assert config.ws_per_message_deflate is False
    assert config.ws_ping_interval is None  # Engine.IO has its own heartbeat
    assert config.ws_max_size > int(realtime_settings.MAX_PAYLOAD)  # the adapter answers first
    assert config.ssl_certfile is None


def test_uvicorn_serves_tls_on_the_inherited_socket() -> None:
    config = asgiservers.uvicorn_config(7, ("/c.pem", "/k.pem"))
    assert (config.ssl_certfile, config.ssl_keyfile) == ("/c.pem", "/k.pem")


def test_worker_commands() -> None:
    uvicorn = asgiservers.worker_command("uvicorn", 5, tls=None)
    assert uvicorn[1:] == ["-m", "realtime.asgiservers", "5"]
    daphne = asgiservers.worker_command("daphne", 5, tls=None)
    assert daphne[1:4] == ["-m", "daphne", "--fd"] and "--proxy-headers" not in daphne
    assert daphne[daphne.index("--verbosity") + 1] == "0"
    with pytest.raises(ValueError, match="unknown ASGI server"):
        asgiservers.worker_command("gunicorn", 5, tls=None)


def test_connections_on_the_inherited_socket_have_nagle_off() -> None:
    """Else an ack written right after its `new_message` waits for the client's delayed ACK."""
    import asyncio
    import os
    import socket

    import uvloop

    listening = socket.create_server(("127.0.0.1", 0))
    listener = asgiservers.inherited_listener(os.dup(listening.fileno()))
    assert (listener.family, listener.proto) == (socket.AF_INET, socket.IPPROTO_TCP)

    async def accepted_nodelay() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        def made(transport: asyncio.BaseTransport) -> None:
            sock = transport.get_extra_info("socket")
            accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))

        protocol = type("P", (asyncio.Protocol,), {"connection_made": lambda _, t: made(t)})
        server = await asyncio.get_running_loop().create_server(protocol, sock=listener)
        _, writer = await asyncio.open_connection(*listening.getsockname())
        try:
            return await asyncio.wait_for(accepted, 5)
        finally:
            writer.close()
            server.close()

    try:
        assert uvloop.run(accepted_nodelay()) != 0
    finally:
        listening.close()


def test_a_uvicorn_worker_freezes_what_startup_made_before_it_serves() -> None:
    """In a process of its own, as a worker is: the application loaded, then frozen."""
    import subprocess
    import sys

    probe = (
        "import gc, sys; from realtime import asgiservers; "
        "server = asgiservers.uvicorn_server(7); "
        "print(gc.get_freeze_count(), *gc.get_threshold(), "
        "'config.asgi' in sys.modules, server.config.loaded, sys.getswitchinterval())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    frozen, *thresholds, app_imported, loaded, interval = out
    assert int(frozen) > 50_000  # Django and the application, at least
    assert tuple(map(int, thresholds)) == collector.SERVER_THRESHOLDS
    assert (app_imported, loaded) == ("True", "True")
    assert float(interval) == switchinterval.switch_interval()


def test_a_daphne_worker_freezes_what_startup_made_before_it_serves() -> None:
    """daphne imports the application itself: the module it is given settles the collector."""
    import subprocess
    import sys

    daphne = asgiservers.worker_command("daphne", 5, tls=None)
    module = daphne[-1].partition(":")[0]
    probe = (
        f"import gc, importlib, sys; app = importlib.import_module({module!r}).application; "
        "print(gc.get_freeze_count(), *gc.get_threshold(), callable(app), sys.getswitchinterval())"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split()
    frozen, *thresholds, application, interval = out
    assert int(frozen) > 50_000
    assert tuple(map(int, thresholds)) == collector.SERVER_THRESHOLDS
    assert application == "True"
    assert float(interval) == switchinterval.switch_interval()


def test_the_switch_interval_is_the_one_measured_for_the_database(settings) -> None:
    """Measured by bench scenario 5 (realtime.switchinterval); a setting replaces it."""
    from django.db import connection

    server = connection.vendor != "sqlite"  # each statement a round trip: a shorter interval
    assert switchinterval.switch_interval() == (0.0005 if server else 0.005)
    settings.REALTIME = {**settings.REALTIME, "SWITCH_INTERVAL_S": 0.002}
    assert switchinterval.switch_interval() == 0.002
