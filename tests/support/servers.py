"""Real server processes for end-to-end tests: the ASGI server `serve` runs (uvicorn; daphne with
TEST_ASGI_SERVER=daphne) on a free port, and redis-server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from realtime import asgiservers

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as response:
            return response.status == 200
    except (urllib.error.URLError, ConnectionError, OSError):
        return False


class ServerProcess:
    """One worker of `manage.py serve` (without its supervisor) serving `config.asgi:application`
    with the given settings, on TEST_ASGI_SERVER (default: serve's default server)."""

    def __init__(
        self,
        settings: str = "config.settings.test",
        env: dict[str, str] | None = None,
        port: int | None = None,
        database: str | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.settings = settings
        self.database = database
        self.extra_env = env or {}
        self.process: subprocess.Popen[bytes] | None = None
        self.server = os.environ.get("TEST_ASGI_SERVER", asgiservers.DEFAULT_SERVER)
        prefix = f"{self.server}-{self.port}-"
        self.log_path = Path(tempfile.mkstemp(prefix=prefix, suffix=".log")[1])

    @property
    def env(self) -> dict[str, str]:
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": self.settings,
            "PYTHONUNBUFFERED": "1",
            **self.extra_env,
        }
        if self.database:
            env["SQLITE_PATH"] = self.database
        return env

    def migrate(self) -> None:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v", "0"],
            cwd=ROOT,
            env=self.env,
            check=True,
        )

    def start(self) -> ServerProcess:
        log = self.log_path.open("ab")
        # bound here and inherited, as `serve` hands its socket to its workers
        with socket.create_server(("127.0.0.1", self.port), backlog=2048) as listener:
            command = asgiservers.worker_command(self.server, listener.fileno(), tls=None)
            command[0] = PYTHON
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=(listener.fileno(),),
            )
        if not wait_until(lambda: _http_ok(self.url + "/status") or not self.alive, 30):
            self.stop()
            raise RuntimeError(f"server on {self.port} did not start:\n{self.log()}")
        if not self.alive:
            raise RuntimeError(f"server on {self.port} exited:\n{self.log()}")
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-5000:]

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(sig)

    def stop(self, timeout: float = 10.0) -> None:
        if self.process is None:
            return
        if self.alive:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None

    def kill(self) -> None:
        if self.alive:
            assert self.process is not None
            self.process.kill()
            self.process.wait(5)


class RedisServer:
    """A throwaway redis-server on a free port, no persistence."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process: subprocess.Popen[bytes] | None = None
        self.dir = tempfile.mkdtemp(prefix="redis-")

    def start(self) -> RedisServer:
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not installed; run the README's test command")
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                self.dir,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(self._pings, 10):
            self.stop()
            raise RuntimeError("redis-server did not start")
        return self

    def _pings(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(5)
        self.process = None

    def restart(self, down_s: float = 1.0) -> RedisServer:
        """Stop, stay down for `down_s`, start again on the same port: an empty Redis, as
        after a crash (no persistence). Blocks: call it in a thread from async code."""
        self.stop()
        time.sleep(down_s)
        return self.start()
