"""Rotating JWT_SECRET: with the old secret in JWT_SECRET_PREVIOUS, tokens signed with either
are accepted at CONNECT; without it, the old ones are refused (SECURITY.md, step by step)."""

from __future__ import annotations

from tests.support.clients import RecordingClient
from tests.support.tokens import make_token

SHARED = "/v1/shared"
OLD_SECRET = "the-secret-before-the-rotation-long-enough-0123456789"


def token(uid: str, secret: str | None = None) -> str:
    claims = {"uid": uid, "account_id": "a-rotation", "scope": "conversation"}
    return make_token(claims) if secret is None else make_token(claims, secret=secret)


async def connect(url: str, auth_token: str) -> RecordingClient | dict:
    """A connected client, or the CONNECT_ERROR payload."""
    client = RecordingClient(url, ["websocket"], [SHARED])
    try:
        return await client.connect({"token": auth_token})
    except Exception:
        error = await client.connect_errors[SHARED].get()
        await client.close()
        return error


async def test_old_and_new_secrets_during_the_window_only_new_after(server, server_factory) -> None:
    rotating = server_factory(JWT_SECRET_PREVIOUS=OLD_SECRET)
    for auth_token in (token("signed-new"), token("signed-old", OLD_SECRET)):
        client = await connect(rotating.url, auth_token)
        assert isinstance(client, RecordingClient), client
        assert (await client.call(SHARED, "join", {}))["success"] is True
        await client.close()
    refused = {"message": "NOT_AUTHENTICATED", "data": {"errno": 401}}
    stranger = token("signed-elsewhere", "a-secret-nobody-configured-0123456789")
    assert await connect(rotating.url, stranger) == refused
    # the window closed (the session's server has no JWT_SECRET_PREVIOUS): old tokens refused
    assert await connect(server.url, token("signed-old", OLD_SECRET)) == refused
    fresh = await connect(server.url, token("signed-new"))
    assert isinstance(fresh, RecordingClient)
    await fresh.close()
