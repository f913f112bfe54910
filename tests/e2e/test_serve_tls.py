"""`manage.py serve --tls-cert --tls-key`: two workers serve `https://` and `wss://` on one shared
port, checked with the stock socket.io-client trusting a self-signed certificate made here."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import ssl
import subprocess
import tempfile
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.node import NodeClients
from tests.support.serve import ServeGroup, http_post, metric, self_signed_certificate
from tests.support.servers import PYTHON, ROOT, RedisServer
from tests.support.tokens import user_token

pytestmark = pytest.mark.redis

SHARED = "/v1/shared"


@pytest.fixture(scope="module")
def certificate() -> tuple[str, str]:
    return self_signed_certificate(Path(tempfile.mkdtemp(prefix="tls-")))


@pytest.fixture(scope="module")
def tls_group(
    redis_server: RedisServer, server_database: str, certificate: tuple[str, str]
) -> Iterator[ServeGroup]:
    env = {"REDIS_URL": redis_server.url}
    group = ServeGroup(workers=2, env=env, database=server_database, tls=certificate).start()
    yield group
    group.stop()


def test_https_with_the_certificate_and_nothing_in_clear(tls_group: ServeGroup) -> None:
    assert tls_group.url.startswith("https://")
    status, body = tls_group.status()
    assert status == 200 and body["status"] == "ok", body
    # an unverified client is refused by the client's own checks: the certificate is served
    with pytest.raises(urllib.error.URLError, match="CERTIFICATE_VERIFY_FAILED"):
        urllib.request.urlopen(tls_group.url + "/status", timeout=3)
    # plain HTTP on the TLS port gets no HTTP answer
    plain = tls_group.url.replace("https://", "http://") + "/status"
    with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
        urllib.request.urlopen(plain, timeout=3).read()
    # what was served: the certificate made for this test
    with socket.create_connection(("127.0.0.1", tls_group.port)) as raw:
        context = ssl.create_default_context(cafile=tls_group.tls[0])
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            assert tls.version() in ("TLSv1.2", "TLSv1.3")
            assert ssl.DER_cert_to_PEM_cert(tls.getpeercert(True)).strip() == (
                Path(tls_group.tls[0]).read_text().strip()
            )


async def test_wss_and_https_polling_with_the_npm_client(
    tls_group: ServeGroup, node: NodeClients, certificate: tuple[str, str]
) -> None:
    account = f"acct-{uuid.uuid4().hex[:8]}"
    ca = Path(certificate[0]).read_text()  # the client trusts exactly this certificate
    url = tls_group.url + SHARED
    sockets = {
        "ws": {"transports": ["websocket"]},
        "polling": {"transports": ["polling"]},
        "default": {},  # https polling, then the upgrade to wss
    }
    for id, options in sockets.items():
        token = user_token(f"{account}-{id}", account)
        for n in range(2):  # two sockets each: most likely on both workers
            await node.open(f"{id}{n}", url, auth={"token": token}, ca=ca, **options)
    ids = [f"{id}{n}" for id in sockets for n in range(2)]
    opened = {id: await node.next(id, "open") for id in ids}
    assert opened["ws0"]["transport"] == "websocket"
    assert opened["polling0"]["transport"] == "polling"
    assert opened["default0"]["transport"] == "polling"
    for n in range(2):
        assert (await node.next(f"default{n}", "upgrade"))["transport"] == "websocket"
    for id in ids:
        assert await node.call(id, "join", {}) == [{"success": True, "message": "SUCCESS"}]

    path = f"/emit/account/{account}/secure"
    status, body = await asyncio.to_thread(
        http_post, tls_group.url + path, {"over": "tls"}, 5.0, tls_group.ssl_context
    )
    assert (status, body["data"]) == (200, {"delivered": len(ids)})
    for id in ids:
        assert await node.next_event(id, "secure") == [{"over": "tls"}]
    assert metric(tls_group.metrics(), "socketio_sockets", namespace=SHARED) == len(ids)


async def test_a_client_that_does_not_trust_the_certificate_is_not_connected(
    tls_group: ServeGroup, node: NodeClients
) -> None:
    await node._send(
        {
            "op": "open",
            "id": "untrusting",
            "url": tls_group.url + SHARED,
            "options": {"transports": ["websocket"], "reconnection": False},
        }
    )
    error = await node.next("untrusting", "connect_error")
    assert error["message"] == "websocket error", error


def test_a_client_cannot_pass_for_another_address(tls_group: ServeGroup) -> None:
    """Nothing in front of a TLS-terminating serve can set X-Forwarded-For: the header is the
    client's own, and the REST API's loopback-only policy looks at the real address."""
    request = urllib.request.Request(
        tls_group.url + "/emit/nobody/x",
        data=b"{}",
        headers={"content-type": "application/json", "x-forwarded-for": "203.0.113.9"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=5, context=tls_group.ssl_context) as answer:
        assert answer.status == 200  # a loopback client, whatever the header says


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--tls-cert", "/nowhere/cert.pem", "--tls-key", "/nowhere/key.pem"], "cannot read"),
        (["--tls-cert", "CERT"], "needs both"),
        (["--tls-cert", "CERT", "--tls-key", "OTHER_KEY"], "unusable certificate or key"),
    ],
)
def test_a_bad_certificate_stops_serve_at_once(
    certificate: tuple[str, str], arguments: list[str], message: str
) -> None:
    other_key = self_signed_certificate(Path(tempfile.mkdtemp(prefix="tls-other-")))[1]
    names = {"CERT": certificate[0], "OTHER_KEY": other_key}
    arguments = [names.get(argument, argument) for argument in arguments]
    process = subprocess.Popen(
        [PYTHON, str(ROOT / "manage.py"), "serve", "--port", "0", "--workers", "1", *arguments],
        cwd=ROOT,
        env={"DJANGO_SETTINGS_MODULE": "config.settings.test", "PATH": "/usr/bin:/bin"},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # should it serve after all, its workers go with it
    )
    try:
        _, stderr = process.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode != 0
    assert message in stderr, stderr
