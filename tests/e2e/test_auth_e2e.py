"""Socket authentication against a real server: token sources, refusals, expiry, Origin."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import socketio
from websockets.asyncio.client import connect as ws_connect
from websockets.exceptions import InvalidStatus

from tests.support.servers import PYTHON, ROOT, ServerProcess
from tests.support.tokens import (
    make_token,
    rs256_token,
    unsigned_token,
    user_token,
    visitor_token,
)

CONVERSATION, LIVE, SHARED, LEAD_FINDER = (
    "/v1/conversation",
    "/v1/conversation/live",
    "/v1/shared",
    "/v1/lead-finder",
)
NOT_AUTHENTICATED = {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}}
NOT_ENOUGH_SCOPE = {"message": "NOT_ENOUGH_SCOPE", "data": {"errno": 403}}
SUCCESS = {"success": True, "message": "SUCCESS"}
JOIN = {LEAD_FINDER: {"job_id": "auth-e2e"}}  # what `join` takes on each namespace (else {})
USER_CLAIMS = {"uid": "u1", "account_id": "a1", "scope": "conversation"}
TIMEOUT = 5.0


class Attempt:
    """One python-socketio client trying one namespace; records a refusal and events."""

    def __init__(self, namespace: str) -> None:
        self.namespace = namespace
        self.sio = socketio.AsyncClient(reconnection=False)
        self.refusal: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.sio.on("connect_error", self._refused, namespace=namespace)
        self.sio.on("*", self._event, namespace=namespace)
        self.sio.on("disconnect", self._disconnected, namespace=namespace)

    async def _refused(self, data: Any) -> None:
        if not self.refusal.done():
            self.refusal.set_result(data)

    async def _event(self, event: str, *args: Any) -> None:
        self.events.put_nowait((event, args[0] if args else None))

    async def _disconnected(self, reason: Any) -> None:
        self.events.put_nowait(("disconnect", reason))

    async def run(self, url: str, transports: list[str], **options: Any) -> bool:
        """Connect; True when accepted, False when refused (see `refusal`)."""
        try:
            await self.sio.connect(
                url,
                namespaces=[self.namespace],
                transports=transports,
                wait_timeout=TIMEOUT,
                **options,
            )
        except socketio.exceptions.ConnectionError:
            return False
        return True

    async def join(self) -> Any:
        payload = JOIN.get(self.namespace, {})
        return await self.sio.call("join", payload, namespace=self.namespace, timeout=TIMEOUT)

    async def wait_for(self, name: str, timeout: float = TIMEOUT) -> Any:
        """The payload of the next `name` event (`disconnect`: the reason); others are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                event, payload = await self.events.get()
                if event == name:
                    return payload

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.eio.disconnect(abort=True)  # also closes its HTTP session after a refusal


@asynccontextmanager
async def attempt(
    server: ServerProcess,
    namespace: str,
    *,
    query: str = "",
    transports: tuple[str, ...] = ("websocket",),
    **options: Any,
) -> AsyncIterator[tuple[Attempt, bool]]:
    client = Attempt(namespace)
    url = server.url + (f"?{query}" if query else "")
    try:
        yield client, await client.run(url, list(transports), **options)
    finally:
        await client.close()


def succeeded(ack: Any) -> bool:
    """A success envelope (whatever `data` it carries)."""
    return isinstance(ack, dict) and {k: ack.get(k) for k in SUCCESS} == SUCCESS


async def accepted(
    server: ServerProcess, namespace: str, *, join: bool = True, **options: Any
) -> bool:
    """Connect (and `join`): True when accepted (and acked SUCCESS); fails the test if refused.

    Visitors connect without joining: what `join` lets a visitor do is the feature's business.
    """
    async with attempt(server, namespace, **options) as (client, ok):
        assert ok, f"refused: {client.refusal.result() if client.refusal.done() else None}"
        if join:
            ack = await client.join()
            assert succeeded(ack), ack
        return True


async def refused(server: ServerProcess, namespace: str, **options: Any) -> Any:
    """Connect and return the CONNECT_ERROR payload; fails the test if it is accepted."""
    async with attempt(server, namespace, **options) as (client, ok):
        assert not ok, "the CONNECT was accepted"
        return await asyncio.wait_for(client.refusal, TIMEOUT)


def log_offset(server: ServerProcess) -> int:
    return server.log_path.stat().st_size


def log_since(server: ServerProcess, offset: int) -> str:
    with server.log_path.open("rb") as log:
        log.seek(offset)
        return log.read().decode(errors="replace")


@pytest.fixture(scope="module")
def api_sessions(server: ServerProcess, server_database: str) -> dict[str, str]:
    """ApiSession rows in the server's database: a live one, an expired one, a bad token."""
    ids = {name: f"{name}-{uuid.uuid4().hex}" for name in ("live", "expired", "stale_jwt")}
    rows = [
        (ids["live"], user_token(uid="s1"), 3600),
        (ids["expired"], user_token(uid="s2"), -3600),
        (ids["stale_jwt"], user_token(uid="s3", ttl=-3600), 3600),
    ]
    code = (
        "import json, os, datetime as dt\n"
        "from django.utils import timezone\n"
        "from realtime.models import ApiSession\n"
        "for sid, token, ttl in json.loads(os.environ['ROWS']):\n"
        "    ApiSession.objects.create(session_id=sid, token=token,\n"
        "        expires_at=timezone.now() + dt.timedelta(seconds=ttl))\n"
    )
    env = {**server.env, "ROWS": json.dumps(rows)}
    subprocess.run([PYTHON, "manage.py", "shell", "-c", code], cwd=ROOT, env=env, check=True)
    return ids


# ----- every token source ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("transports", "options"),
    [
        (("websocket",), {"auth": {"token": user_token()}}),
        (("websocket",), {"query": f"token={user_token()}"}),
        (("websocket",), {"headers": {"x-token": user_token()}}),
        (("websocket",), {"headers": {"Authorization": f"Bearer {user_token()}"}}),
        (("polling", "websocket"), {"auth": {"token": user_token()}}),
        (("polling", "websocket"), {"query": f"token={user_token()}"}),
        (("polling",), {"headers": {"x-token": user_token()}}),
        (("polling",), {"headers": {"Authorization": f"Bearer {user_token()}"}}),
    ],
    ids=[
        "auth-ws",
        "query-ws",
        "x-token-ws",
        "bearer-ws",
        "auth-upgrade",
        "query-upgrade",
        "x-token-polling",
        "bearer-polling",
    ],
)
async def test_token_sources(
    server: ServerProcess, transports: tuple[str, ...], options: dict[str, Any]
) -> None:
    assert await accepted(server, CONVERSATION, transports=transports, **options)


async def test_session_id_in_auth_and_in_query(
    server: ServerProcess, api_sessions: dict[str, str]
) -> None:
    live = api_sessions["live"]
    assert await accepted(server, CONVERSATION, auth={"session_id": live})
    assert await accepted(server, SHARED, query=f"session_id={live}")


@pytest.mark.parametrize("name", ["unknown", "expired", "stale_jwt"])
async def test_session_id_refusals(
    server: ServerProcess, api_sessions: dict[str, str], name: str
) -> None:
    session_id = api_sessions.get(name, f"unknown-{uuid.uuid4().hex}")
    assert await refused(server, CONVERSATION, auth={"session_id": session_id}) == (
        NOT_AUTHENTICATED
    )


@pytest.mark.parametrize(
    ("options", "ok"),
    [
        ({"auth": {"session_id": "nope", "token": user_token()}}, False),
        ({"auth": {"token": user_token()}, "query": "token=bad"}, True),
        ({"auth": {"token": "bad"}, "query": f"token={user_token()}"}, False),
        ({"query": "token=bad", "headers": {"x-token": user_token()}}, False),
        ({"query": f"token={user_token()}", "headers": {"x-token": "bad"}}, True),
        ({"headers": {"x-token": "bad", "Authorization": f"Bearer {user_token()}"}}, False),
        ({"headers": {"x-token": user_token(), "Authorization": "Bearer bad"}}, True),
    ],
    ids=[
        "session-before-token",
        "auth-before-query",
        "auth-before-query-bad",
        "query-before-header",
        "query-before-header-good",
        "x-token-before-bearer",
        "x-token-before-bearer-good",
    ],
)
async def test_the_first_source_found_wins(
    server: ServerProcess, options: dict[str, Any], ok: bool
) -> None:
    async with attempt(server, CONVERSATION, **options) as (_, accepted_):
        assert accepted_ is ok


# ----- every refusal ---------------------------------------------------------------------

REFUSALS = {
    "no-token": ({}, NOT_AUTHENTICATED),
    "bad-signature": (
        {"token": make_token(USER_CLAIMS, secret="some-other-secret-also-32-bytes-long!")},
        NOT_AUTHENTICATED,
    ),
    "alg-none": ({"token": unsigned_token(USER_CLAIMS)}, NOT_AUTHENTICATED),
    "rs256": ({"token": rs256_token(USER_CLAIMS)}, NOT_AUTHENTICATED),
    "expired": ({"token": make_token(USER_CLAIMS, ttl=-60)}, NOT_AUTHENTICATED),
    "nbf-future": (
        {"token": make_token({**USER_CLAIMS, "nbf": int(time.time()) + 3600})},
        NOT_AUTHENTICATED,
    ),
    "missing-uid": (
        {"token": make_token({"account_id": "a1", "scope": "conversation"})},
        NOT_AUTHENTICATED,
    ),
    "unknown-session": ({"session_id": "no-such-session"}, NOT_AUTHENTICATED),
    "random-bytes": ({"token": os.urandom(96).decode("latin-1")}, NOT_AUTHENTICATED),
    "token-100kb": ({"token": "e" * 100_000}, NOT_AUTHENTICATED),
    "token-not-a-string": ({"token": {"uid": "u1"}}, NOT_AUTHENTICATED),
    "no-scope": ({"token": user_token(scope=None)}, NOT_ENOUGH_SCOPE),
    "other-scope": ({"token": user_token(scope="analytics crm")}, NOT_ENOUGH_SCOPE),
    "similar-scope": ({"token": user_token(scope="conversations")}, NOT_ENOUGH_SCOPE),
    "prefixed-scope": ({"token": user_token(scope="conversation:read")}, NOT_ENOUGH_SCOPE),
    "uppercase-scope": ({"token": user_token(scope="Conversation")}, NOT_ENOUGH_SCOPE),
    "list-without-scope": ({"token": user_token(scope=["crm", "chat"])}, NOT_ENOUGH_SCOPE),
}


@pytest.mark.parametrize("case", list(REFUSALS))
async def test_refusals(server: ServerProcess, case: str) -> None:
    auth, payload = REFUSALS[case]
    for namespace in (CONVERSATION, SHARED):
        assert await refused(server, namespace, auth=auth) == payload


async def test_refusals_leave_the_connection_and_the_server_healthy(server: ServerProcess) -> None:
    """Exact CONNECT_ERROR frames on one raw connection, which then still works."""
    offset = log_offset(server)
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url, max_size=None) as ws:
        assert (await ws.recv()).startswith("0{")
        for case, (auth, payload) in REFUSALS.items():
            await ws.send(f"40{CONVERSATION}," + json.dumps(auth))
            frame = await asyncio.wait_for(ws.recv(), TIMEOUT)
            prefix = f"44{CONVERSATION},"
            assert frame.startswith(prefix), (case, frame)
            assert json.loads(frame[len(prefix) :]) == payload, case
        await ws.send(f"40{LEAD_FINDER},")
        assert (await asyncio.wait_for(ws.recv(), TIMEOUT)).startswith(f'40{LEAD_FINDER},{{"sid"')
        await ws.send(f'40{CONVERSATION},{{"token":"{user_token()}"}}')
        assert (await asyncio.wait_for(ws.recv(), TIMEOUT)).startswith(f"40{CONVERSATION},")
    async with httpx.AsyncClient() as http:
        assert (await http.get(server.url + "/status")).status_code == 200
    assert await accepted(server, CONVERSATION, auth={"token": user_token()})
    log = log_since(server, offset)
    assert "Traceback" not in log and " ERROR " not in log, log


async def test_scope_as_a_list(server: ServerProcess) -> None:
    token = user_token(scope=["crm", "conversation"])
    assert await accepted(server, CONVERSATION, auth={"token": token})


async def test_numeric_ids_are_accepted(server: ServerProcess) -> None:
    token = make_token({"uid": 42, "account_id": 7, "scope": "conversation analytics"})
    assert await accepted(server, SHARED, auth={"token": token})


# ----- who may connect where ----------------------------------------------------------


@pytest.mark.parametrize("namespace", [CONVERSATION, SHARED])
async def test_visitors_are_refused_outside_live_chat(
    server: ServerProcess, namespace: str
) -> None:
    assert await refused(server, namespace, auth={"token": visitor_token()}) == NOT_ENOUGH_SCOPE


async def test_live_chat_takes_visitors_and_users(server: ServerProcess) -> None:
    assert await accepted(server, LIVE, auth={"token": visitor_token()}, join=False)
    assert await accepted(server, LIVE, auth={"token": user_token()})
    assert await refused(server, LIVE, auth={"token": user_token(scope="crm")}) == (
        NOT_ENOUGH_SCOPE
    )
    assert await refused(server, LIVE, auth={}) == NOT_AUTHENTICATED
    bad_visitor = make_token({"type": "visitor", "visitor_id": "v1", "account_id": "a1"})
    assert await refused(server, LIVE, auth={"token": bad_visitor}) == NOT_AUTHENTICATED


@pytest.mark.parametrize(
    "auth", [None, {}, {"token": "not even a jwt"}, {"token": make_token(USER_CLAIMS, ttl=-60)}]
)
async def test_lead_finder_is_open_to_anyone(server: ServerProcess, auth: Any) -> None:
    assert await accepted(server, LEAD_FINDER, auth=auth)


async def test_unknown_events_are_acked_not_found(server: ServerProcess) -> None:
    async with attempt(server, LEAD_FINDER) as (client, ok):
        assert ok
        ack = await client.sio.call("no_such_event", {}, namespace=LEAD_FINDER, timeout=TIMEOUT)
        assert ack == {"success": False, "errno": 404, "message": "NOT_FOUND"}


# ----- expiry while connected ------------------------------------------------------------


async def test_a_token_that_expires_disconnects_the_socket(server: ServerProcess) -> None:
    exp = int(time.time()) + 2
    token = make_token({**USER_CLAIMS, "exp": exp}, ttl=None)
    async with attempt(server, CONVERSATION, auth={"token": token}) as (client, ok):
        assert ok
        assert succeeded(await client.join())
        payload = await client.wait_for("token_expired")
        assert payload == {"message": "TOKEN_EXPIRED", "data": {"errno": 401}}
        assert exp - 0.1 <= time.time() < exp + 1
        assert await client.wait_for("disconnect") is not None
        assert not client.sio.connected
    # the client comes back with a fresh token
    assert await accepted(server, CONVERSATION, auth={"token": user_token()})


async def test_expiry_only_leaves_the_namespace_with_the_token(server: ServerProcess) -> None:
    url = server.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    async with ws_connect(url) as ws:

        async def frame_starting(prefix: str, timeout: float = TIMEOUT) -> str:
            async with asyncio.timeout(timeout):
                while not (frame := await ws.recv()).startswith(prefix):
                    pass
            return frame

        assert (await ws.recv()).startswith("0{")
        await ws.send(f"40{LEAD_FINDER},")
        await frame_starting(f"40{LEAD_FINDER},")
        await ws.send(f'40{SHARED},{{"token":"{user_token(ttl=1)}"}}')
        await frame_starting(f"40{SHARED},")
        expired = await frame_starting(f"42{SHARED},", timeout=4)
        assert json.loads(expired.removeprefix(f"42{SHARED},"))[0] == "token_expired"
        assert await frame_starting(f"41{SHARED}") == f"41{SHARED},"
        await ws.send(f"42{LEAD_FINDER},1" + json.dumps(["join", JOIN[LEAD_FINDER]]))
        ack = await frame_starting(f"43{LEAD_FINDER},1")
        assert succeeded(json.loads(ack.removeprefix(f"43{LEAD_FINDER},1"))[0])


# ----- WebSocket Origin ------------------------------------------------------------------


async def test_websocket_origin_is_checked_against_cors_origins(server_factory: Any) -> None:
    strict = server_factory(CORS_ALLOWED_ORIGINS="https://app.example,https://admin.example")
    url = strict.url.replace("http://", "ws://") + "/socket.io/?EIO=4&transport=websocket"
    with pytest.raises(InvalidStatus) as refusal:
        await ws_connect(url, origin="https://evil.example")
    assert refusal.value.response.status_code == 403
    for origin in ("https://app.example", "https://admin.example", None):
        async with ws_connect(url, origin=origin) as ws:
            assert (await ws.recv()).startswith("0{")
    token = {"token": user_token()}
    headers = {"Origin": "https://evil.example"}
    async with attempt(strict, CONVERSATION, auth=token, headers=headers) as (_, ok):
        assert not ok
    headers = {"Origin": "https://app.example"}
    assert await accepted(strict, CONVERSATION, auth=token, headers=headers)


# ----- the stock JavaScript client ------------------------------------------------------

NODE_SCRIPT = Path(__file__).resolve().parents[1] / "node" / "auth_check.mjs"


def test_socket_io_client(server: ServerProcess) -> None:
    cases = [
        {"namespace": CONVERSATION, "auth": {"token": user_token()}},
        {"namespace": SHARED, "query": {"token": user_token()}},
        {"namespace": LIVE, "auth": {"token": visitor_token()}, "transports": ["polling"]},
        {"namespace": CONVERSATION, "extraHeaders": {"x-token": user_token()}},
        {"namespace": CONVERSATION, "auth": {}},
        {"namespace": SHARED, "auth": {"token": user_token(scope="crm")}},
        {"namespace": CONVERSATION, "auth": {"token": unsigned_token(USER_CLAIMS)}},
        {"namespace": LEAD_FINDER, "join": JOIN[LEAD_FINDER]},
    ]
    cases[2]["join"] = None  # a visitor: connecting is what is tested here
    result = subprocess.run(
        ["node", str(NODE_SCRIPT), server.url, json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    outcomes = [
        "joined" if succeeded(outcome.get("ack")) or outcome == {"connected": True} else outcome
        for outcome in json.loads(result.stdout)
    ]
    assert outcomes == [
        "joined",
        "joined",
        "joined",
        "joined",
        {"error": NOT_AUTHENTICATED},
        {"error": NOT_ENOUGH_SCOPE},
        {"error": NOT_AUTHENTICATED},
        "joined",
    ]


# ----- startup and the development token -------------------------------------------------


def test_the_server_refuses_to_start_without_a_secret(server_database: str) -> None:
    env = {"DEBUG": "0", "JWT_SECRET": ""}
    process = ServerProcess("config.settings.base", env=env, database=server_database)
    with pytest.raises(RuntimeError, match="JWT_SECRET is not set"):
        process.start()
    process.stop()


async def test_mint_token_makes_tokens_the_server_accepts(server: ServerProcess) -> None:
    def mint(*args: str) -> str:
        command = [PYTHON, "manage.py", "mint_token", *args]
        run = subprocess.run(command, cwd=ROOT, env=server.env, capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        return run.stdout.strip()

    user = mint("--uid", "U", "--account", "A", "--scope", "conversation")
    visitor = mint("--visitor", "V", "--account", "A", "--conversation", "C")
    assert await accepted(server, CONVERSATION, auth={"token": user})
    assert await accepted(server, LIVE, auth={"token": visitor}, join=False)
