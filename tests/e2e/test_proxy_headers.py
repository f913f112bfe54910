"""Who the client is, under `manage.py serve` (the production entry): X-Forwarded-For counts
only from a trusted proxy (TRUSTED_PROXIES, default loopback). A remote client that claims to
be 127.0.0.1 does not get the REST API that INTERNAL_API_KEY's absence leaves to loopback
callers, nor a fresh MAX_CONNECTIONS_PER_IP allowance per claimed address."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.e2e.test_emit_api import non_loopback_address
from tests.support.servers import PYTHON, ROOT, free_port

HANDSHAKE = "/socket.io/?EIO=4&transport=polling"


@pytest.fixture
async def serve(server_database: str) -> AsyncIterator[str]:
    """`manage.py serve --workers 1` on loopback, at most 3 sessions per client address."""
    port = free_port()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "SQLITE_PATH": server_database,
        "MAX_CONNECTIONS_PER_IP": "3",
    }
    env.pop("INTERNAL_API_KEY", None)
    command = ["manage.py", "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"]
    process = subprocess.Popen(
        [PYTHON, *command], cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url) as http:
            for _ in range(300):
                try:
                    if (await http.get("/status")).status_code == 200:
                        break
                except httpx.HTTPError:
                    pass
                await asyncio.sleep(0.1)
        yield url
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.to_thread(process.wait, 20)


async def test_a_proxied_remote_caller_is_not_a_loopback_caller(serve: str) -> None:
    async with httpx.AsyncClient(base_url=serve) as http:
        # the peer is loopback, a trusted proxy: it says the caller is remote
        relayed = await http.post(
            "/emit/u-proxy/x", json={}, headers={"X-Forwarded-For": "203.0.113.5"}
        )
        assert relayed.status_code == 401, relayed.text
        # a local caller with no proxy in between
        local = await http.post("/emit/u-proxy/x", json={})
        assert local.status_code == 200, local.text


async def test_a_remote_client_cannot_claim_loopback_or_another_address(serve: str) -> None:
    address = non_loopback_address()
    if address is None:  # no other interface here: the trusted-proxy path is all there is
        async with httpx.AsyncClient(base_url=serve) as http:
            for n in range(3):
                headers = {"X-Forwarded-For": "198.51.100.9"}
                assert (await http.get(HANDSHAKE, headers=headers)).status_code == 200, n
            refused = await http.get(HANDSHAKE, headers={"X-Forwarded-For": "198.51.100.9"})
            assert refused.status_code == 403
        return
    transport = httpx.AsyncHTTPTransport(local_address=address)
    async with httpx.AsyncClient(base_url=serve, transport=transport) as http:
        for claim in ("127.0.0.1", "::1", "127.0.0.1, 127.0.0.1"):
            response = await http.post(
                "/emit/u-proxy/x", json={}, headers={"X-Forwarded-For": claim}
            )
            assert response.status_code == 401, (claim, response.text)
        # the per-address cap counts the real address, whatever each request claims
        for n in range(3):
            claimed = {"X-Forwarded-For": f"198.51.100.{n}"}
            assert (await http.get(HANDSHAKE, headers=claimed)).status_code == 200
        refused = await http.get(HANDSHAKE, headers={"X-Forwarded-For": "198.51.100.99"})
        assert refused.status_code == 403
        assert refused.json() == {"code": 4, "message": "Forbidden"}
