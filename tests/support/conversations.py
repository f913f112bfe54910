"""Helpers for the conversation end-to-end tests: users connected with real clients."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from tests.support.clients import TIMEOUT, RecordingClient
from tests.support.tokens import user_token

NS = "/v1/conversation"
LIVE = "/v1/conversation/live"


def unique(prefix: str) -> str:
    """An id no other test uses (the servers of a session share one database)."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def ok(ack: Any) -> Any:
    """The `data` of a success ack; fails the test on anything else."""
    assert isinstance(ack, dict) and ack.get("success") is True, ack
    assert ack["message"] == "SUCCESS", ack
    return ack.get("data")


def failed(ack: Any, code: str) -> dict[str, Any]:
    assert isinstance(ack, dict) and ack.get("success") is False, ack
    assert ack["message"] == code, ack
    return ack


class User:
    """One user's socket on a conversation namespace."""

    def __init__(self, client: RecordingClient, uid: str, namespace: str) -> None:
        self.client = client
        self.uid = uid
        self.namespace = namespace

    async def call(self, event: str, payload: Any = None) -> Any:
        args = () if payload is None else (payload,)
        return await self.client.call(self.namespace, event, *args)

    async def ok(self, event: str, payload: Any = None) -> Any:
        return ok(await self.call(event, payload))

    async def next(self, event: str, timeout: float = TIMEOUT) -> Any:
        """The payload of the next `event` this socket receives."""
        return (await self.client.next(self.namespace, event, timeout))[0]

    async def next_where(
        self, event: str, match: Callable[[Any], bool], timeout: float = TIMEOUT
    ) -> Any:
        """The payload of the next `event` that matches, skipping the others."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            payload = await self.next(event, timeout=max(left, 0.01))
            if match(payload):
                return payload

    def received(self, event: str) -> list[Any]:
        """Every `event` received and not yet taken."""
        return [args[0] for args in self.client.received(self.namespace, event)]

    async def close(self) -> None:
        await self.client.close()


class Team:
    """Connects users of one account to a server; closes every socket at the end."""

    def __init__(self) -> None:
        self.account = unique("acct")
        self.users: list[User] = []

    async def connect(
        self,
        url: str,
        name: str,
        *,
        namespace: str = NS,
        account: str | None = None,
        token: str | None = None,
    ) -> User:
        """`name`'s socket: a fresh user of the team's account unless given a token."""
        uid = unique(name)
        token = token or user_token(uid, account or self.account)
        client = RecordingClient(url, ["websocket"], [namespace])
        await client.connect({"token": token})
        user = User(client, uid, namespace)
        self.users.append(user)
        return user

    async def close(self) -> None:
        await asyncio.gather(*(user.close() for user in self.users), return_exceptions=True)

    async def __aenter__(self) -> Team:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.close()
