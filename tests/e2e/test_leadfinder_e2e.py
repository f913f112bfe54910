"""Lead finder against real servers: scrapers, watchers, the REST relay, two processes."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import socketio

from tests.support.servers import RedisServer, ServerProcess

NS = "/v1/lead-finder"
TIMEOUT = 5.0
QUIET_S = 0.3  # how long "nothing more arrives" is watched for
SUCCESS = {"success": True, "message": "SUCCESS"}


class LeadClient:
    """A python-socketio client on /v1/lead-finder that queues every event it receives."""

    def __init__(self) -> None:
        self.sio = socketio.AsyncClient(reconnection=False)
        self.events: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self.sio.on("*", self._event, namespace=NS)

    async def _event(self, event: str, *args: Any) -> None:
        self.events.put_nowait((event, args[0] if args else None))

    async def connect(self, url: str) -> LeadClient:
        await self.sio.connect(url, namespaces=[NS], transports=["websocket"], wait_timeout=TIMEOUT)
        return self

    async def call(self, event: str, payload: Any) -> Any:
        return await self.sio.call(event, payload, namespace=NS, timeout=TIMEOUT)

    async def join(self, job_id: str) -> Any:
        return await self.call("join", {"job_id": job_id})

    async def next(self) -> tuple[str, Any]:
        return await asyncio.wait_for(self.events.get(), TIMEOUT)

    async def nothing_more(self) -> bool:
        await asyncio.sleep(QUIET_S)
        return self.events.empty()

    async def drop(self) -> None:
        """Lose the connection: the WebSocket closes with no DISCONNECT and no Engine.IO close."""
        await self.sio.eio.ws.close()

    async def close(self) -> None:
        if self.sio.connected:
            await self.sio.disconnect()
        await self.sio.eio.disconnect(abort=True)


@asynccontextmanager
async def clients(*urls: str) -> AsyncIterator[list[LeadClient]]:
    """One connected client per url."""
    connected: list[LeadClient] = []
    try:
        for url in urls:
            connected.append(await LeadClient().connect(url))
        yield connected
    finally:
        for client in connected:
            await client.close()


def new_job_id() -> str:
    return f"job-{uuid.uuid4().hex[:12]}"


def stored_job(database: str, job_id: str) -> tuple[str, str, str] | None:
    """(status, last_event, error) of a job in the servers' database."""
    with sqlite3.connect(database) as db:
        return db.execute(
            "SELECT status, last_event, error FROM leadfinder_scraperjob WHERE job_id = ?",
            (job_id,),
        ).fetchone()


def validation_error(ack: Any) -> dict[str, list[str]]:
    assert ack["success"] is False and ack["errno"] == 400, ack
    assert ack["message"] == "VALIDATION_ERROR", ack
    return ack["errors"]


# ----- over the socket -----------------------------------------------------------------


async def test_a_run_watched_by_two_browsers_one_joining_late(
    server: ServerProcess, server_database: str
) -> None:
    job = new_job_id()
    started = {"job_id": job, "query": "plumbers", "location": "Berlin", "total_expected": 20}
    progress = {"job_id": job, "processed": 5, "total": 20, "found": 2, "percent": 25.0}
    lead = {"job_id": job, "lead": {"name": "Acme", "phone": "+49 30 1", "rating": 4.5}}
    completed = {"job_id": job, "found": 2, "duration_ms": 1500}
    async with clients(server.url, server.url, server.url) as (scraper, early, late):
        assert await early.join(job) == {**SUCCESS, "data": {"job_id": job, "last_event": None}}
        assert await scraper.join(job) == {**SUCCESS, "data": {"job_id": job, "last_event": None}}
        for event, payload in [
            ("scraper_started", started),
            ("scraper_progress", progress),
            ("scraper_lead", lead),
        ]:
            assert await scraper.call(event, payload) == SUCCESS
            assert await early.next() == (event, payload)
        # the late joiner hears the last status at once (a lead is not a status)
        ack = await late.join(job)
        assert await late.next() == ("scraper_progress", progress)
        assert ack == {**SUCCESS, "data": {"job_id": job, "last_event": "scraper_progress"}}
        assert await scraper.call("scraper_completed", completed) == SUCCESS
        assert await early.next() == ("scraper_completed", completed)
        assert await late.next() == ("scraper_completed", completed)
        assert stored_job(server_database, job) == ("completed", "scraper_completed", "")
        await scraper.drop()  # a scraper that finished may go: nothing fails
        assert await early.nothing_more() and late.events.empty()
        assert scraper.events.empty(), "a scraper never hears its own events"
        assert stored_job(server_database, job) == ("completed", "scraper_completed", "")
        assert await late.call("leave", {"job_id": job}) == {**SUCCESS, "data": {"job_id": job}}


async def test_a_scraper_that_drops_mid_run_fails_its_running_jobs(
    server: ServerProcess, server_database: str
) -> None:
    running, finished = new_job_id(), new_job_id()
    async with clients(server.url, server.url, server.url) as (scraper, watcher, late):
        assert (await watcher.join(running))["success"] and (await watcher.join(finished))[
            "success"
        ]
        for job in (running, finished):
            assert await scraper.call("scraper_started", {"job_id": job, "query": "q"}) == SUCCESS
            assert (await watcher.next())[0] == "scraper_started"
        progress = {"job_id": running, "processed": 1, "total": 9, "found": 0, "percent": 11.1}
        assert await scraper.call("scraper_progress", progress) == SUCCESS
        done = {"job_id": finished, "found": 0, "duration_ms": 10}
        assert await scraper.call("scraper_completed", done) == SUCCESS
        assert [(await watcher.next())[0] for _ in range(2)] == [
            "scraper_progress",
            "scraper_completed",
        ]
        await scraper.drop()
        failed = {"job_id": running, "error": "SCRAPER_DISCONNECTED"}
        assert await watcher.next() == ("scraper_failed", failed)
        assert stored_job(server_database, running) == (
            "failed",
            "scraper_failed",
            "SCRAPER_DISCONNECTED",
        )
        assert stored_job(server_database, finished)[0] == "completed"
        await late.join(running)
        assert await late.next() == ("scraper_failed", failed)
        assert await watcher.nothing_more()


async def test_malformed_job_ids_are_refused(server: ServerProcess) -> None:
    async with clients(server.url) as (client,):
        for bad in ["", "a b", "../x", "x" * 65, "job.1", None, 1.5, ["j"]]:
            assert list(validation_error(await client.call("join", {"job_id": bad}))) == ["job_id"]
            ack = await client.call("scraper_failed", {"job_id": bad, "error": "e"})
            assert list(validation_error(ack)) == ["job_id"]
        assert validation_error(await client.call("join", "job-1")) == {
            "payload": ["must be a JSON object"]
        }
        assert list(validation_error(await client.call("leave", {}))) == ["job_id"]
        job = new_job_id()  # the socket lives on after every refusal
        assert (await client.join(job))["success"] is True


async def test_oversized_and_malformed_fields_are_refused_and_not_relayed(
    server: ServerProcess,
) -> None:
    job = new_job_id()
    async with clients(server.url, server.url) as (scraper, watcher):
        await watcher.join(job)
        refused = [
            ("scraper_started", {"job_id": job, "query": "q" * 501}, "query"),
            ("scraper_started", {"job_id": job, "query": "q", "location": "l" * 201}, "location"),
            ("scraper_lead", {"job_id": job, "lead": {"name": "n" * 301}}, "lead.name"),
            ("scraper_lead", {"job_id": job, "lead": {"name": "n", "rating": 9}}, "lead.rating"),
            ("scraper_failed", {"job_id": job, "error": "e" * 501}, "error"),
            ("scraper_progress", {"job_id": job, "processed": -1}, "processed"),
            ("scraper_completed", {"job_id": job, "found": 1}, "duration_ms"),
        ]
        for event, payload, field in refused:
            assert field in validation_error(await scraper.call(event, payload)), (event, field)
        started = {"job_id": job, "query": "q" * 500}
        assert await scraper.call("scraper_started", started) == SUCCESS
        # the first thing the watcher hears is the valid event: nothing refused got through
        assert await watcher.next() == ("scraper_started", started)


# ----- the REST relay --------------------------------------------------------------------


async def test_the_rest_relay_reaches_the_room_and_records_the_job(server: ServerProcess) -> None:
    job = new_job_id()
    progress = {"processed": 3, "total": 6, "found": 1, "percent": 50}
    async with clients(server.url, server.url) as (watcher, late), httpx.AsyncClient() as http:
        await watcher.join(job)
        answer = await http.post(f"{server.url}/lead-finder/{job}/scraper_progress", json=progress)
        assert (answer.status_code, answer.json()) == (200, {**SUCCESS, "data": {"delivered": 1}})
        relayed = {"job_id": job, **progress, "percent": 50.0}
        assert await watcher.next() == ("scraper_progress", relayed)
        await late.join(job)
        assert await late.next() == ("scraper_progress", relayed)
        lead = {"job_id": job, "lead": {"name": "Acme"}}
        answer = await http.post(f"{server.url}/lead-finder/{job}/scraper_lead", json=lead)
        assert answer.json()["data"] == {"delivered": 2}
        assert await watcher.next() == ("scraper_lead", lead)


@pytest.mark.parametrize(
    ("path", "body", "fields"),
    [
        ("scraper_paused", {"error": "e"}, ["event"]),
        ("connect", {"error": "e"}, ["event"]),
        ("scraper_failed", [1, 2], ["body"]),
        ("scraper_failed", "just text", ["body"]),
        ("scraper_failed", {}, ["error"]),
        ("scraper_failed", {"error": "e" * 501}, ["error"]),
        ("scraper_failed", {"job_id": "other", "error": "e"}, ["job_id"]),
        ("scraper_lead", {"lead": {"website": "w"}}, ["lead.name"]),
    ],
)
async def test_the_rest_relay_refuses_bad_events_and_bodies(
    server: ServerProcess, path: str, body: Any, fields: list[str]
) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(f"{server.url}/lead-finder/{new_job_id()}/{path}", json=body)
    assert answer.status_code == 400
    assert list(validation_error(answer.json())) == fields


@pytest.mark.parametrize("job_id", ["a%20b", "x" * 65, "job.1", "%C3%A9"])
async def test_the_rest_relay_refuses_malformed_job_ids(server: ServerProcess, job_id: str) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{server.url}/lead-finder/{job_id}/scraper_failed", json={"error": "e"}
        )
    assert answer.status_code == 400
    assert list(validation_error(answer.json())) == ["job_id"]


async def test_the_rest_relay_refuses_invalid_json(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as http:
        answer = await http.post(
            f"{server.url}/lead-finder/{new_job_id()}/scraper_failed",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
    assert answer.status_code == 400
    assert list(validation_error(answer.json())) == ["body"]


async def test_the_rest_relay_needs_the_internal_key_when_one_is_set(server_factory) -> None:
    keyed = server_factory(INTERNAL_API_KEY="lead-finder-test-key")
    url = f"{keyed.url}/lead-finder/{new_job_id()}/scraper_failed"
    body = {"error": "captcha"}
    unauthenticated = {"success": False, "errno": 401, "message": "NOT_AUTHENTICATED"}
    async with httpx.AsyncClient() as http:
        for headers in [{}, {"x-internal-key": "wrong"}, {"x-internal-key": ""}]:
            answer = await http.post(url, json=body, headers=headers)
            assert answer.status_code == 401
            assert {k: answer.json()[k] for k in unauthenticated} == unauthenticated
        answer = await http.post(url, json=body, headers={"x-internal-key": "lead-finder-test-key"})
    assert (answer.status_code, answer.json()) == (200, {**SUCCESS, "data": {"delivered": 0}})


# ----- several processes -----------------------------------------------------------------


@pytest.mark.redis
async def test_scraper_on_one_process_watchers_on_another(
    redis_server: RedisServer, server_factory, server_database: str
) -> None:
    first = server_factory(REDIS_URL=redis_server.url)
    second = server_factory(REDIS_URL=redis_server.url)
    job = new_job_id()
    started = {"job_id": job, "query": "bakeries"}
    progress = {"job_id": job, "processed": 2, "total": 4, "found": 1, "percent": 50.0}
    async with clients(first.url, second.url, second.url) as (scraper, watcher, late):
        await watcher.join(job)
        assert await scraper.call("scraper_started", started) == SUCCESS
        assert await watcher.next() == ("scraper_started", started)
        assert await scraper.call("scraper_progress", progress) == SUCCESS
        assert await watcher.next() == ("scraper_progress", progress)
        # the late joiner is on the other process than the scraper: the replay is the stored one
        await late.join(job)
        assert await late.next() == ("scraper_progress", progress)
        # the REST relay on either process reaches the watchers; the one on theirs counts them
        leads = [{"job_id": job, "lead": {"name": name}} for name in ("Crumbs", "Loaf")]
        async with httpx.AsyncClient() as http:
            answer = await http.post(f"{first.url}/lead-finder/{job}/scraper_lead", json=leads[0])
            assert answer.status_code == 200
            assert await watcher.next() == await late.next() == ("scraper_lead", leads[0])
            answer = await http.post(f"{second.url}/lead-finder/{job}/scraper_lead", json=leads[1])
            assert answer.json() == {**SUCCESS, "data": {"delivered": 2}}
            assert await watcher.next() == await late.next() == ("scraper_lead", leads[1])
        await scraper.drop()
        failed = ("scraper_failed", {"job_id": job, "error": "SCRAPER_DISCONNECTED"})
        assert await watcher.next() == await late.next() == failed
        assert stored_job(server_database, job)[0] == "failed"
