"""Socket authentication: token sources, JWT verification, and the identity the claims make."""

from __future__ import annotations

import functools
import logging
import time
from typing import Any

import jwt
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from .conf import realtime_settings
from .engineio.server import header, parse_query
from .identity import Identity, UserIdentity, VisitorIdentity

logger = logging.getLogger(__name__)

DEV_JWT_SECRET = "general-socket-development-jwt-secret-do-not-use-in-production"
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
MAX_SESSION_ID_LENGTH = 255


class AuthenticationFailed(Exception):
    """A credential was given but is not valid; the text says why (for logs, not clients)."""


# ----- settings ------------------------------------------------------------------------


def jwt_secret() -> str:
    """`JWT_SECRET`, or the development default when DEBUG is on; required otherwise."""
    secret = realtime_settings.JWT_SECRET
    if secret:
        return secret
    if settings.DEBUG:
        return DEV_JWT_SECRET
    raise ImproperlyConfigured(
        "JWT_SECRET is not set. Set JWT_SECRET to the secret that signs the platform's tokens "
        "(or DEBUG=1 for local development with a built-in secret)."
    )


def jwt_secrets() -> tuple[str, ...]:
    """Every secret a token may be signed with: `jwt_secret()` (which also signs minted
    tokens), then JWT_SECRET_PREVIOUS, the old ones still accepted during a rotation."""
    previous = realtime_settings.JWT_SECRET_PREVIOUS
    if isinstance(previous, str):
        previous = previous.split(",")
    return (jwt_secret(), *(secret.strip() for secret in previous if secret.strip()))


def jwt_algorithms() -> tuple[str, ...]:
    """The accepted algorithms, in order; the first one signs minted tokens."""
    algorithms = tuple(realtime_settings.JWT_ALGORITHMS)
    unsupported = [alg for alg in algorithms if alg not in HMAC_ALGORITHMS]
    if not algorithms or unsupported:
        raise ImproperlyConfigured(
            f"JWT_ALGORITHMS must list HMAC algorithms ({', '.join(sorted(HMAC_ALGORITHMS))}), "
            f"got {list(algorithms)!r}"
        )
    return algorithms


def check_settings() -> None:
    """Fail at startup on a missing secret or bad algorithms; warn on the development secret."""
    jwt_algorithms()
    if jwt_secret() == DEV_JWT_SECRET:
        logger.warning(
            "JWT_SECRET is not set: DEBUG is on, so the development secret is used. "
            "Never run like this in production."
        )


@functools.lru_cache(maxsize=16)
def _backend(algorithm: str, secret: str, leeway: float, audience: Any, issuer: Any) -> Any:
    # simplejwt needs the app registry, so it is imported on first use, not with the adapter
    from rest_framework_simplejwt.backends import TokenBackend

    return TokenBackend(
        algorithm, signing_key=secret, audience=audience, issuer=issuer, leeway=leeway
    )


def token_backend(algorithm: str, secret: str | None = None) -> Any:
    """simplejwt's TokenBackend for `algorithm` with `secret` (default: the one that signs)
    and the configured claims."""
    audience = realtime_settings.JWT_AUDIENCE
    return _backend(
        algorithm,
        secret or jwt_secret(),
        float(realtime_settings.JWT_LEEWAY_S),
        tuple(audience) if isinstance(audience, list) else audience,
        realtime_settings.JWT_ISSUER,
    )


# ----- where the credential comes from ------------------------------------------------


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = (authorization or "").strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def find_credential(auth: Any, scope: dict[str, Any]) -> tuple[str, Any] | None:
    """The first credential found, as ("session_id" | "token", value); None when there is none.

    Order (contract §2): `session_id` in the auth payload or the query, `token` in the auth
    payload, `token` in the query, the `x-token` header, `Authorization: Bearer`.
    """
    payload = auth if isinstance(auth, dict) else {}
    query = parse_query(scope)
    candidates = (
        ("session_id", payload.get("session_id")),
        ("session_id", query.get("session_id")),
        ("token", payload.get("token")),
        ("token", query.get("token")),
        ("token", header(scope, b"x-token")),
        ("token", bearer_token(header(scope, b"authorization"))),
    )
    for kind, value in candidates:
        if value is not None and value != "":
            return kind, value
    return None


async def token_for_session(session_id: Any) -> str:
    """The JWT an `ApiSession` stores for `session_id`."""
    if not isinstance(session_id, str) or len(session_id) > MAX_SESSION_ID_LENGTH:
        raise AuthenticationFailed("malformed session_id")
    from .selectors import api_session_token_async  # the ORM needs the app registry

    token = await api_session_token_async(session_id=session_id)
    if token is None:
        raise AuthenticationFailed("unknown or expired session_id")
    return token


# ----- verification and claims ---------------------------------------------------------


def verify_token(token: Any) -> dict[str, Any]:
    """The verified claims of a JWT, or AuthenticationFailed saying why it is refused."""
    if not isinstance(token, str):
        raise AuthenticationFailed("token is not a string")
    if len(token) > int(realtime_settings.JWT_MAX_LENGTH):
        raise AuthenticationFailed("token too long")
    try:
        algorithm = jwt.get_unverified_header(token).get("alg")
    except (jwt.PyJWTError, ValueError, TypeError) as exc:
        raise AuthenticationFailed(f"malformed token: {exc}") from None
    if algorithm not in jwt_algorithms():
        raise AuthenticationFailed(f"algorithm {algorithm!r} is not accepted")
    claims = _decode(token, algorithm)
    if not isinstance(claims, dict):
        raise AuthenticationFailed("claims are not an object")
    return claims


def _decode(token: str, algorithm: str) -> Any:
    """The claims, checked with each secret in turn: a signature that does not match one is
    tried with the next; any other refusal (expired, audience, ...) is final."""
    from rest_framework_simplejwt.exceptions import TokenBackendError

    refusal: TokenBackendError | None = None
    for secret in jwt_secrets():
        try:
            return token_backend(algorithm, secret).decode(token)
        except TokenBackendError as exc:
            refusal = refusal or exc
            if not isinstance(exc.__cause__, jwt.InvalidSignatureError):
                raise AuthenticationFailed(f"{exc}: {exc.__cause__}") from None
    assert refusal is not None
    raise AuthenticationFailed(f"{refusal}: {refusal.__cause__}") from None


def _id_claim(claims: dict[str, Any], name: str) -> str | None:
    """An id claim as a string (JSON numbers too); None when absent or empty."""
    value = claims.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise AuthenticationFailed(f"claim {name!r} is not a string or an integer")
    return str(value)


def _required_id_claim(claims: dict[str, Any], name: str) -> str:
    value = _id_claim(claims, name)
    if value is None:
        raise AuthenticationFailed(f"missing claim {name!r}")
    return value


def parse_scopes(value: Any) -> frozenset[str]:
    """`scope` as a set: a space-separated string or a list of strings."""
    if value is None:
        return frozenset()
    if isinstance(value, str):
        return frozenset(value.split())
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return frozenset(item.strip() for item in value if item.strip())
    raise AuthenticationFailed("claim 'scope' is not a string or a list of strings")


def _expires_at(claims: dict[str, Any]) -> float | None:
    exp = claims.get("exp")
    return None if exp is None else float(exp)


def user_from_claims(claims: dict[str, Any]) -> UserIdentity:
    assignment = claims.get("assignment")
    if assignment is not None and not isinstance(assignment, dict):
        raise AuthenticationFailed("claim 'assignment' is not an object")
    return UserIdentity(
        uid=_required_id_claim(claims, "uid"),
        account_id=_id_claim(claims, "account_id"),
        workspace_id=_id_claim(claims, "workspace_id"),
        scopes=parse_scopes(claims.get("scope")),
        assignment=assignment or {},
        expires_at=_expires_at(claims),
    )


def visitor_from_claims(claims: dict[str, Any]) -> VisitorIdentity:
    return VisitorIdentity(
        visitor_id=_required_id_claim(claims, "visitor_id"),
        account_id=_required_id_claim(claims, "account_id"),
        conversation_id=_required_id_claim(claims, "conversation_id"),
        expires_at=_expires_at(claims),
    )


def identity_from_claims(claims: dict[str, Any]) -> Identity:
    """A visitor for `type: "visitor"` tokens, else a platform user (no `token_type` needed)."""
    if claims.get("type") == "visitor":
        return visitor_from_claims(claims)
    return user_from_claims(claims)


async def authenticate(auth: Any, scope: dict[str, Any]) -> Identity | None:
    """The identity of a CONNECT: None without a credential, AuthenticationFailed if invalid."""
    credential = find_credential(auth, scope)
    if credential is None:
        return None
    kind, value = credential
    token = await token_for_session(value) if kind == "session_id" else value
    return identity_from_claims(verify_token(token))


# ----- minting (development and tests) -------------------------------------------------


def mint_token(claims: dict[str, Any], *, ttl_s: float | None = 3_600) -> str:
    """A token signed like the platform's, with `exp` `ttl_s` from now (None: no `exp`)."""
    payload = dict(claims)
    now = int(time.time())
    payload.setdefault("iat", now)
    if ttl_s is not None:
        payload["exp"] = now + int(ttl_s)
    return token_backend(jwt_algorithms()[0]).encode(payload)
