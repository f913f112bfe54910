"""Helpers for the prospect and live-chat end-to-end tests: contacts and links written to the
servers' SQLite file (what the platform's other services do), REST calls, visitors."""

from __future__ import annotations

import datetime as dt
import sqlite3
from typing import Any

import httpx

from tests.support.clients import TIMEOUT, RecordingClient
from tests.support.conversations import LIVE, Team, User, unique

SUCCESS_ACK = {"success": True, "message": "SUCCESS"}  # no data: the event brings it


def _execute(database: str, sql: str, *params: Any) -> int:
    with sqlite3.connect(database, timeout=10) as db:
        return db.execute(sql, params).lastrowid or 0


def contact_create(database: str, account_id: str, name: str, image: str = "") -> int:
    """A contact of the account, as the CRM stores it; returns its id."""
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    return _execute(
        database,
        "INSERT INTO prospects_contact (account_id, name, email, phone, image, created_at) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        account_id,
        name,
        f"{unique('mail')}@example.com",
        "",
        image,
        now,
    )


def communication_link(database: str, message_id: str, cid: str) -> None:
    """File a stored communication in one more conversation (one email, two threads)."""
    _execute(
        database,
        "INSERT INTO prospects_communication_conversations "
        "(communication_id, conversationprospect_id) VALUES (?, ?)",
        int(message_id),
        int(cid),
    )


async def prospect_start(
    database: str, team: Team, owner: User, others: list[User], *, name: str, **ask: Any
) -> tuple[int, list[dict[str, Any]]]:
    """A contact named `name` (`image` optional), and `owner`'s prospect conversation with it
    and `others` (`channel_id` in `ask`): the contact's id, and the `prospect_add_conversation`
    each of `owner` and `others` heard, in that order."""
    contact = contact_create(database, team.account, name, ask.pop("image", ""))
    payload = {"contact_id": contact, **ask, "users": [user.uid for user in others]}
    assert await owner.call("prospect_add_conversation", payload) == SUCCESS_ACK
    return contact, [await user.next("prospect_add_conversation") for user in (owner, *others)]


async def rest(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as http:
        return await http.request(method, path, **kwargs)


async def visitor_token(url: str, contact_id: int, cid: str, **extra: Any) -> dict[str, Any]:
    """`POST /live/visitor-token`: the answer's data, `{token, expires_at}`."""
    body = {"contact_id": contact_id, "conversation_id": cid, **extra}
    response = await rest(url, "POST", "/live/visitor-token", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["success"] is True and answer["message"] == "SUCCESS", answer
    return answer["data"]


async def connect_visitor(team: Team, url: str, token: str) -> User:
    """A website visitor's socket on /v1/conversation/live (closed with the team)."""
    client = RecordingClient(url, ["websocket"], [LIVE])
    await client.connect({"token": token})
    visitor = User(client, unique("visitor"), LIVE)
    team.users.append(visitor)
    return visitor
