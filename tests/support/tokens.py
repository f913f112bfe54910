"""Test tokens: JWTs minted with PyJWT directly, the way the platform signs them."""

from __future__ import annotations

import functools
import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

# config.settings.test fixes this secret, so every test server accepts these tokens
TEST_JWT_SECRET = "test-jwt-secret-for-the-test-suite-only-0123456789"


def make_token(
    claims: dict[str, Any],
    *,
    ttl: float | None = 3600,
    secret: str | bytes | Any = TEST_JWT_SECRET,
    algorithm: str = "HS256",
) -> str:
    """Sign `claims`, adding `exp` `ttl` seconds from now unless ttl is None."""
    payload = dict(claims)
    if ttl is not None:
        payload.setdefault("exp", int(time.time() + ttl))
    return jwt.encode(payload, secret, algorithm=algorithm)


def user_token(
    uid: str = "u1", account_id: str = "a1", scope: Any = "conversation", **claims: Any
) -> str:
    ttl = claims.pop("ttl", 3600)
    return make_token({"uid": uid, "account_id": account_id, "scope": scope, **claims}, ttl=ttl)


def visitor_token(
    visitor_id: str = "v1", account_id: str = "a1", conversation_id: str = "c1", **claims: Any
) -> str:
    base = {"type": "visitor", "visitor_id": visitor_id, "account_id": account_id}
    return make_token({**base, "conversation_id": conversation_id, **claims})


def unsigned_token(claims: dict[str, Any]) -> str:
    """`alg: none`: no signature at all."""
    return jwt.encode(claims, None, algorithm="none")


@functools.cache
def _rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def rs256_token(claims: dict[str, Any]) -> str:
    """A well-formed RS256 token: refused by a server that accepts HS256 only."""
    return make_token(claims, secret=_rsa_key(), algorithm="RS256")
