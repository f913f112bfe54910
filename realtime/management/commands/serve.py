"""`manage.py serve`: N ASGI workers on one port, supervised, stopped gracefully.

The workers run uvicorn, or daphne with `--server daphne` (see realtime.asgiservers). The
parent binds one SO_REUSEPORT socket per worker on the same port and hands each worker its own
(`--fd`), so the kernel spreads new connections evenly over the workers. (With one socket
shared by all, whichever worker wakes first accepts a whole burst: asyncio accepts until the
backlog is empty.) A restarted worker takes over its predecessor's socket and the connections
waiting in it. Workers share rooms through the channel layer, and any worker serves
any request of any session (see realtime.engineio.forwarding), so no sticky sessions are
needed. SIGTERM goes to every worker, which shuts down gracefully; a worker that dies on its
own is restarted. With a certificate and key (`--tls-cert/--tls-key`, or TLS_CERT and TLS_KEY)
the workers serve `https://` and `wss://` on that socket.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from typing import Any

from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from realtime import asgiservers, metrics, tls
from realtime.conf import realtime_settings

RESTART_DELAY_S = 1.0

logger = logging.getLogger(__name__)  # LOG_FORMAT=json: these lines are JSON too


class Command(BaseCommand):
    help = "Serve on one port with several ASGI worker processes (uvicorn or daphne)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--host", default=os.environ.get("HOST", "0.0.0.0"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "4000")))
        parser.add_argument(
            "--workers",
            type=int,
            default=int(os.environ.get("WEB_CONCURRENCY", "0")) or os.cpu_count() or 1,
            help="worker processes (default: WEB_CONCURRENCY, else one per core)",
        )
        parser.add_argument(
            "--server",
            choices=asgiservers.SERVERS,
            default=os.environ.get("ASGI_SERVER", asgiservers.DEFAULT_SERVER),
            help=f"the workers' ASGI server (ASGI_SERVER; default {asgiservers.DEFAULT_SERVER})",
        )
        parser.add_argument(
            "--tls-cert",
            default=os.environ.get("TLS_CERT", ""),
            help="PEM certificate (leaf, then chain) to serve https:// and wss:// (TLS_CERT)",
        )
        parser.add_argument(
            "--tls-key", default=os.environ.get("TLS_KEY", ""), help="its PEM key (TLS_KEY)"
        )

    def handle(
        self,
        *args: Any,
        host: str,
        port: int,
        workers: int,
        server: str,
        tls_cert: str,
        tls_key: str,
        **options: Any,
    ) -> None:
        if workers < 1:
            raise CommandError("--workers must be at least 1")
        if server not in asgiservers.SERVERS:  # ASGI_SERVER is not checked by argparse
            raise CommandError(f"--server must be one of {', '.join(asgiservers.SERVERS)}")
        self.server = server
        self.tls = _checked_tls(tls_cert, tls_key)
        if self.tls:  # nothing in front of a TLS-terminating serve can set X-Forwarded-For
            os.environ["TRUSTED_PROXIES"] = ""  # inherited by the workers: trust no peer
        if workers > 1 and isinstance(get_channel_layer(), InMemoryChannelLayer):
            logger.warning("REDIS_URL is not set: the in-memory layer serves one process only")
            workers = 1
        _prepare_metrics_dir()
        listeners = _listeners(host, port, workers)
        scheme = "https" if self.tls else "http"
        logger.info("serving %s on %s:%d with %d %s worker(s)", scheme, host, port, workers, server)
        Supervisor(listeners, self.worker_command).run()

    def worker_command(self, fd: int) -> list[str]:
        return asgiservers.worker_command(self.server, fd, tls=self.tls)


def _listeners(host: str, port: int, count: int) -> list[socket.socket]:
    """`count` listening sockets on one (host, port), one per worker. Port 0 binds the first
    socket to a free port and the others to the same one."""
    listeners: list[socket.socket] = []
    try:
        for _ in range(count):
            listener = socket.create_server((host, port), backlog=2048, reuse_port=True)
            listener.set_inheritable(True)
            port = listener.getsockname()[1]
            listeners.append(listener)
    except OSError as exc:
        for listener in listeners:
            listener.close()
        raise CommandError(f"cannot listen on {host}:{port}: {exc}") from exc
    return listeners


def _checked_tls(cert: str, key: str) -> tuple[str, str] | None:
    """(certificate, key) as absolute paths, checked here so a bad pair fails at once rather
    than in every worker; None without TLS."""
    if not cert and not key:
        return None
    if not (cert and key):
        raise CommandError("TLS needs both --tls-cert and --tls-key (TLS_CERT, TLS_KEY)")
    try:
        tls.certificate_options(cert, key)
    except tls.TLSConfigError as exc:
        raise CommandError(str(exc)) from exc
    return os.path.abspath(cert), os.path.abspath(key)


def _worker_environment() -> dict[str, str]:
    """The workers import the project (and Twisted finds its endpoint plugin in it) from
    whatever directory `serve` was started in."""
    path = [str(settings.BASE_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(path)}


def _prepare_metrics_dir() -> None:
    """Workers write their metrics here, so any worker's `/metrics` reports them all."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        path = os.environ["PROMETHEUS_MULTIPROC_DIR"]
        os.makedirs(path, exist_ok=True)
    else:
        path = tempfile.mkdtemp(prefix="general-socket-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = path  # inherited by the workers
    for name in os.listdir(path):  # samples of an earlier run would be summed in
        os.unlink(os.path.join(path, name))


class Supervisor:
    """Keeps a worker running on each listener until SIGTERM/SIGINT, then stops them all
    gracefully. `command(fd)` is the command line of a worker serving the socket `fd`."""

    def __init__(self, listeners: list[socket.socket], command: Callable[[int], list[str]]) -> None:
        self.listeners = listeners
        self.command = command
        self.workers: list[subprocess.Popen[bytes]] = []
        self.stopping = False

    def run(self) -> None:
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        self.workers = [self._spawn(listener) for listener in self.listeners]
        while not self.stopping:
            for index, worker in enumerate(self.workers):
                if worker.poll() is not None and not self.stopping:
                    metrics.mark_process_dead(worker.pid)
                    logger.error("worker %d exited (%s); restarting", worker.pid, worker.returncode)
                    time.sleep(RESTART_DELAY_S)
                    self.workers[index] = self._spawn(self.listeners[index])
            time.sleep(0.2)
        self._wait_for_workers()

    def _spawn(self, listener: socket.socket) -> subprocess.Popen[bytes]:
        fd = listener.fileno()
        return subprocess.Popen(self.command(fd), pass_fds=(fd,), env=_worker_environment())

    def _stop(self, signum: int, frame: Any) -> None:
        self.stopping = True
        for worker in self.workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)

    def _wait_for_workers(self) -> None:
        # no worker is started any more: without these copies a socket closes as soon as its
        # worker stops listening, so new connections are refused (a load balancer tries
        # another server) instead of waiting unanswered in the backlog until every worker left
        for listener in self.listeners:
            listener.close()
        deadline = time.monotonic() + float(realtime_settings.SHUTDOWN_TIMEOUT_S) + 2.0
        for worker in self.workers:
            try:
                worker.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                worker.kill()
