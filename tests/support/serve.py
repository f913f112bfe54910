"""`manage.py serve` groups, a real nginx in front of them, a self-signed certificate, and the
`/metrics` text read back, for the end-to-end tests of running several processes."""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import json
import os
import shutil
import signal
import ssl
import subprocess
import tempfile
import textwrap
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from prometheus_client.parser import text_string_to_metric_families

from tests.support.servers import PYTHON, ROOT, free_port, wait_until

START_TIMEOUT_S = 40.0


def http_get(url: str, timeout: float = 2.0, context: ssl.SSLContext | None = None) -> Any:
    """(status, JSON or text body) of a GET; (0, error) when nothing answered."""
    try:
        with urllib.request.urlopen(url, timeout=timeout, context=context) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)
    text = body.decode(errors="replace")
    try:
        return status, json.loads(text)
    except ValueError:
        return status, text


def http_post(
    url: str, payload: Any, timeout: float = 5.0, context: ssl.SSLContext | None = None
) -> tuple[int, Any]:
    request = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode(errors="replace")


class ServeGroup:
    """`manage.py serve` with N workers on one port: the supervisor in a session of its own,
    so a failed test can never leave its workers behind."""

    def __init__(
        self,
        *,
        workers: int,
        env: dict[str, str] | None = None,
        database: str | None = None,
        settings: str = "config.settings.test",
        tls: tuple[str, str] | None = None,
    ) -> None:
        self.workers = workers
        self.port = free_port()
        self.tls = tls
        scheme = "https" if tls else "http"
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DJANGO_SETTINGS_MODULE": settings, "PYTHONUNBUFFERED": "1"}
        self.env.pop("PROMETHEUS_MULTIPROC_DIR", None)  # serve makes one per group
        if database:
            self.env["SQLITE_PATH"] = database
        self.env.update(env or {})
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = Path(tempfile.mkstemp(prefix=f"serve-{self.port}-", suffix=".log")[1])
        self.owners: set[str] = set()  # the workers' process ids, once started
        self.ssl_context: ssl.SSLContext | None = None
        if tls:
            self.ssl_context = ssl.create_default_context(cafile=tls[0])

    def command(self) -> list[str]:
        command = [PYTHON, str(ROOT / "manage.py"), "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--workers", str(self.workers)]
        if os.environ.get("TEST_ASGI_SERVER"):  # the daphne pass of scripts/test
            command += ["--server", os.environ["TEST_ASGI_SERVER"]]
        if self.tls:
            command += ["--tls-cert", self.tls[0], "--tls-key", self.tls[1]]
        return command

    def start(self) -> ServeGroup:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                cwd=tempfile.gettempdir(),  # serve must not depend on the current directory
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.wait_for_workers()
        except Exception:
            self.kill()
            raise
        return self

    def wait_for_workers(self) -> None:
        """Until every worker has answered: Engine.IO handshakes, many at once, until the sids
        (which start with the id of the process that made them) name N processes."""
        deadline = time.monotonic() + START_TIMEOUT_S
        owners = self.owners
        with ThreadPoolExecutor(16) as pool:
            while len(owners) < self.workers:
                if not self.alive:
                    raise RuntimeError(f"serve exited:\n{self.log()}")
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{len(owners)}/{self.workers} workers up:\n{self.log()}")
                owners.update(filter(None, pool.map(lambda _: self._handshake(), range(16))))
                time.sleep(0.05)

    def _handshake(self) -> str | None:
        base = f"{self.url}/socket.io/?EIO=4&transport=polling"
        status, body = http_get(base, 2.0, self.ssl_context)
        if status != 200 or not isinstance(body, str) or not body.startswith("0"):
            return None
        sid = json.loads(body[1:])["sid"]
        close = urllib.request.Request(f"{base}&sid={sid}", data=b"1", method="POST")
        with contextlib.suppress(OSError):  # close the probe session at once
            urllib.request.urlopen(close, timeout=2, context=self.ssl_context).close()
        return sid[:8]

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-8000:]

    def owns(self, engine_sid: str) -> bool:
        """Whether one of this group's workers made the Engine.IO session `engine_sid`."""
        return engine_sid[:8] in self.owners

    def status(self) -> tuple[int, Any]:
        return http_get(self.url + "/status", 2.0, self.ssl_context)

    def metrics(self) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
        status, text = http_get(self.url + "/metrics", 5.0, self.ssl_context)
        assert status == 200, (status, text)
        return parse_metrics(text)

    def signal(self, sig: int) -> None:
        if self.alive:
            assert self.process is not None
            self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        return self.process.wait(timeout)

    def stop(self, timeout: float = 15.0) -> None:
        if self.alive:
            self.signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.wait(timeout)
        self.kill()

    def kill(self) -> None:
        """SIGKILL whatever is left of the group (the supervisor and its workers)."""
        if self.process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(5)


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse_metrics(text: str) -> Samples:
    """Every sample of a Prometheus exposition, keyed by (name, labels)."""
    samples: Samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def metric(samples: Samples, name: str, **labels: str) -> float:
    """The sum of `name`'s samples whose labels include `labels` (0 when there is none)."""
    wanted = set(labels.items())
    return sum(v for (n, have), v in samples.items() if n == name and wanted <= have)


def label_sets(samples: Samples, name: str) -> list[dict[str, str]]:
    return [dict(have) for (n, have) in samples if n == name]


class Nginx:
    """A real nginx (Debian package) with plain round-robin over `upstreams`, WebSocket
    upgrades passed through; its own prefix directory, port and foreground process."""

    def __init__(self, upstreams: list[int]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.dir = Path(tempfile.mkdtemp(prefix="nginx-"))
        self.dir.chmod(0o755)
        self.upstreams = upstreams
        self.process: subprocess.Popen[bytes] | None = None

    def config(self) -> str:
        servers = "\n".join(f"        server 127.0.0.1:{port};" for port in self.upstreams)
        temp = "\n".join(
            f"    {kind}_temp_path {self.dir}/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return textwrap.dedent(
            """\
            worker_processes 1;
            pid {dir}/nginx.pid;
            error_log {dir}/error.log warn;
            events {{ worker_connections 1024; }}
            http {{
                access_log off;
            {temp}
                map $http_upgrade $connection_upgrade {{ default upgrade; '' close; }}
                upstream app {{  # plain round-robin: no ip_hash, no sticky sessions
            {servers}
                }}
                server {{
                    listen 127.0.0.1:{port};
                    location / {{
                        proxy_pass http://app;
                        proxy_http_version 1.1;
                        proxy_set_header Upgrade $http_upgrade;
                        proxy_set_header Connection $connection_upgrade;
                        proxy_set_header Host $host;
                        proxy_set_header X-Forwarded-For $remote_addr;
                        proxy_set_header X-Forwarded-Proto $scheme;
                        proxy_read_timeout 120s;
                        proxy_buffering off;
                        # a server shutting down refuses new sessions: try the other one
                        proxy_next_upstream error timeout http_403 http_502 http_503;
                    }}
                }}
            }}
            """
        ).format(dir=self.dir, temp=temp, servers=servers, port=self.port)

    def start(self) -> Nginx:
        binary = shutil.which("nginx") or "/usr/sbin/nginx"
        if not os.path.exists(binary):
            raise RuntimeError("nginx is not installed; run the README's test command")
        (self.dir / "nginx.conf").write_text(self.config())
        prefix = ["-p", str(self.dir), "-e", str(self.dir / "error.log")]
        self.process = subprocess.Popen(
            [binary, *prefix, "-c", "nginx.conf", "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if not wait_until(lambda: http_get(self.url + "/status")[0] == 200, 15):
            self.stop()
            raise RuntimeError(f"nginx did not start: {self.error_log()}")
        return self

    def error_log(self) -> str:
        path = self.dir / "error.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)  # graceful stop of master and workers
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.process = None


def self_signed_certificate(directory: Path) -> tuple[str, str]:
    """A fresh self-signed certificate for 127.0.0.1 and localhost, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "general-socket test")])
    now = datetime.datetime.now(datetime.UTC)
    names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert_path), str(key_path)


async def post_ok(url: str, payload: object) -> dict:
    """POST JSON from async code (off the loop) and expect a 200; the decoded body."""
    status, body = await asyncio.to_thread(http_post, url, payload)
    assert status == 200, (status, body)
    return body
