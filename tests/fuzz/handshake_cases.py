"""Fuzz cases around the WebSocket handshake: bad queries and headers, upgrade probes out of
order, two probes at once, probes of sessions that cannot be upgraded."""

from __future__ import annotations

import asyncio
import random

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .wire import (
    BAD_REQUEST,
    CLOSED,
    REFUSED,
    STEP_TIMEOUT_S,
    Target,
    Unclean,
    connect_frame,
    expect_closed,
    expect_http_error,
    polling_close,
    polling_open,
    polling_url,
    probe,
    recv,
    send_all,
    wire_json,
    ws_handshake,
    ws_refused,
)
from .ws_cases import random_text


async def bad_handshake(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    query = rng.choice(
        [
            "EIO=3&transport=websocket",
            "EIO=5&transport=websocket",
            "transport=websocket",
            "EIO=4",
            "EIO=4&transport=polling",
            "EIO=4&transport=websocket&sid=" + random_text(rng, 10).encode().hex(),
            "EIO=4&transport=websocket&sid=",
            "EIO=4&transport=websocket&sid=%ff%fe%00",
            "EIO=4&transport=webSocket",
            "EIO=%34&transport=websocket&junk=" + "j" * rng.randint(1, 4000),
            "EIO=4&EIO=3&transport=websocket",
            "EIO=4&transport=websocket&b64=1&t=" + "x" * 100,
        ]
    )
    headers = rng.choice(
        [
            None,
            {"Origin": "http://evil.example"},
            {"X-Forwarded-For": "203.0.113.9, " * 50},
            {"X-Big": "h" * 6_000},
            {f"X-H{n}": "v" * 100 for n in range(40)},
            {"Authorization": "Bearer " + "t" * 4_000},
        ]
    )
    return await ws_refused(target, query, headers)


async def _upgrade_socket(target: Target, sid: str) -> ClientConnection:
    return await connect(
        f"{target.ws_url}?EIO=4&transport=websocket&sid={sid}",
        max_size=None,
        open_timeout=STEP_TIMEOUT_S,
        close_timeout=1,
        ping_interval=None,
    )


async def upgrade_out_of_order(target: Target, rng: random.Random, http: httpx.AsyncClient) -> str:
    variant = rng.randrange(6)
    if variant == 5:  # the sid of a WebSocket session, or of none at all
        own, handshake = await ws_handshake(target)
        try:
            return await _probe_foreign_session(target, own, handshake["sid"], rng)
        finally:
            await own.close()
    sid = await polling_open(target, http)
    try:
        ws = await _upgrade_socket(target, sid)
    except InvalidStatus as refusal:
        status = refusal.response.status_code
        raise Unclean(f"upgrade of a live session refused: {status}") from None
    try:
        if variant == 0:  # UPGRADE before the probe
            await send_all(ws, ["5"])
        elif variant == 1:  # two probes on one socket
            await send_all(ws, ["2probe", "2probe"])
        elif variant == 2:  # anything else during the probe
            await send_all(ws, ["2probe", rng.choice(["4", "3probe", "6", "1", "42[]", "x"])])
        elif variant == 3:  # a second socket probing the same session
            return await _two_probes(target, http, sid, ws)
        else:  # probed, then gone without UPGRADE: polling goes on
            await ws.send("2probe")
            if await recv(ws) != "3probe":
                raise Unclean("no 3probe")
            await ws.close()
            return await _polling_still_serves(target, http, sid)
        await expect_closed(ws)
        return await _polling_still_serves(target, http, sid)
    finally:
        await ws.close()
        await polling_close(target, http, sid)


async def _polling_still_serves(target: Target, http: httpx.AsyncClient, sid: str) -> str:
    """After a failed probe the long-polling session carries on: CONNECT + event, answered."""
    ns = target.probe_ns
    body = (
        connect_frame(ns, target.probe_auth)
        + "\x1e"
        + f"42{ns},55"
        + wire_json([target.probe_event, *target.probe_args])
    )
    response = await http.post(polling_url(target, sid), content=body.encode())
    if (response.status_code, response.text) != (200, "ok"):
        raise Unclean(f"POST after a failed probe: {response.status_code} {response.text!r}")
    got = ""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + STEP_TIMEOUT_S
    while f"43{ns},55" not in got:
        if loop.time() > deadline:
            raise Unclean(f"no ack over polling after a failed probe: {got[:300]!r}")
        response = await http.get(polling_url(target, sid))
        if response.status_code != 200:
            raise Unclean(f"poll after a failed probe: {response.status_code} {response.text!r}")
        got += response.text
    return CLOSED


async def _two_probes(
    target: Target, http: httpx.AsyncClient, sid: str, first: ClientConnection
) -> str:
    await first.send("2probe")
    if await recv(first) != "3probe":
        raise Unclean("no 3probe")
    second = await _upgrade_socket(target, sid)
    try:
        await send_all(second, ["2probe"])
        await expect_closed(second)  # another probe is under way
    finally:
        await second.close()
    await first.send("5")
    # upgraded: the session's polling requests are refused, its WebSocket serves it
    for method in ("GET", "POST"):
        response = await http.request(method, polling_url(target, sid), content=b"6")
        expect_http_error(response, BAD_REQUEST)
    await probe(first, target)
    return CLOSED


async def _probe_foreign_session(
    target: Target, own: ClientConnection, own_sid: str, rng: random.Random
) -> str:
    """A probe for a WebSocket session (nothing to upgrade) or an unknown sid: refused or
    closed; the session itself is untouched."""
    engine_sid = rng.choice([own_sid, "unknown-" + str(rng.randrange(10**9)), ""])
    try:
        ws = await _upgrade_socket(target, engine_sid)
    except InvalidStatus as refusal:
        if not 400 <= refusal.response.status_code < 500:
            status = refusal.response.status_code
            raise Unclean(f"probe of an unknown sid answered {status}") from None
        await probe(own, target)
        return REFUSED
    try:
        await send_all(ws, ["2probe"])
        await expect_closed(ws)
    finally:
        await ws.close()
    await probe(own, target)
    return CLOSED


async def overlapping_probe_and_poll(
    target: Target, rng: random.Random, http: httpx.AsyncClient
) -> str:
    """A poll waiting while a probe runs is ended so the client can upgrade; the upgrade
    then holds and polling is refused."""
    sid = await polling_open(target, http)
    ws = await _upgrade_socket(target, sid)
    try:
        poll = asyncio.ensure_future(http.get(polling_url(target, sid)))
        await asyncio.sleep(0.05)
        await ws.send("2probe")
        if await recv(ws) != "3probe":
            raise Unclean("no 3probe")
        response = await asyncio.wait_for(poll, STEP_TIMEOUT_S)
        if response.status_code != 200:
            raise Unclean(f"the waiting poll got {response.status_code}")
        await ws.send("5")
        await probe(ws, target)
        response = await http.get(polling_url(target, sid))
        return expect_http_error(response, BAD_REQUEST)
    except ConnectionClosed:
        raise Unclean("upgrade socket closed") from None
    finally:
        await ws.close()


HANDSHAKE_CASES = {
    "ws-bad-handshake": (bad_handshake, 2),
    "ws-upgrade-out-of-order": (upgrade_out_of_order, 2),
    "ws-probe-during-poll": (overlapping_probe_and_poll, 1),
}
