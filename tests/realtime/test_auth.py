"""Socket authentication: token sources, every refusal reason, claims, permissions, settings."""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from typing import Any

import jwt
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from realtime.auth import (
    DEV_JWT_SECRET,
    AuthenticationFailed,
    bearer_token,
    check_settings,
    find_credential,
    identity_from_claims,
    jwt_algorithms,
    jwt_secret,
    jwt_secrets,
    mint_token,
    parse_scopes,
    verify_token,
)
from realtime.envelope import NotAuthenticated, NotEnoughScope
from realtime.identity import UserIdentity, VisitorIdentity
from realtime.models import ApiSession
from realtime.permissions import (
    AllowAny,
    HasScope,
    IsAuthenticated,
    IsVisitor,
    as_permission,
    denial,
)
from realtime.selectors import api_session_token
from tests.support.tokens import (
    TEST_JWT_SECRET,
    make_token,
    rs256_token,
    unsigned_token,
    user_token,
    visitor_token,
)

USER_CLAIMS = {"uid": "u1", "account_id": "a1", "scope": "conversation"}


def asgi_scope(query: bytes = b"", headers: dict[str, str] | None = None) -> dict[str, Any]:
    """The parts of an ASGI connection scope that authentication reads."""
    encoded = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    return {"type": "websocket", "query_string": query, "headers": encoded}


def reconfigure(settings: Any, **realtime: Any) -> None:
    settings.REALTIME = {**settings.REALTIME, **realtime}


def test_test_settings_use_the_secret_tests_sign_with() -> None:
    assert jwt_secret() == TEST_JWT_SECRET


# ----- token sources ----------------------------------------------------------------


HEADERS = {"x-token": "t-header", "authorization": "Bearer t-bearer"}


@pytest.mark.parametrize(
    ("auth", "query", "headers", "expected"),
    [
        (
            {"session_id": "s-auth", "token": "t-auth"},
            b"session_id=s-query&token=t-query",
            HEADERS,
            ("session_id", "s-auth"),
        ),
        (
            {"token": "t-auth"},
            b"session_id=s-query&token=t-query",
            HEADERS,
            ("session_id", "s-query"),
        ),
        ({"token": "t-auth"}, b"token=t-query", HEADERS, ("token", "t-auth")),
        ({}, b"token=t-query", HEADERS, ("token", "t-query")),
        ({}, b"EIO=4&transport=websocket", HEADERS, ("token", "t-header")),
        ({}, b"", {"authorization": "Bearer t-bearer"}, ("token", "t-bearer")),
        ({}, b"", {"authorization": "Basic dTpw"}, None),
        ({}, b"", {}, None),
    ],
)
def test_first_credential_found_wins(
    auth: dict[str, str], query: bytes, headers: dict[str, str], expected: Any
) -> None:
    assert find_credential(auth, asgi_scope(query, headers)) == expected


def test_empty_values_are_not_credentials() -> None:
    scope = asgi_scope(b"token=&session_id=", {"x-token": "", "authorization": "Bearer "})
    assert find_credential({"token": "", "session_id": None}, scope) is None
    assert find_credential({"token": ""}, asgi_scope(b"token=q")) == ("token", "q")


def test_query_values_are_url_decoded() -> None:
    assert find_credential({}, asgi_scope(b"token=a%2Bb.c")) == ("token", "a+b.c")


def test_an_auth_payload_that_is_not_an_object_is_ignored() -> None:
    assert find_credential(["token", "x"], asgi_scope(b"token=q")) == ("token", "q")
    assert find_credential("x", asgi_scope()) is None


def test_a_non_string_token_is_found_then_refused() -> None:
    assert find_credential({"token": 42}, asgi_scope()) == ("token", 42)
    with pytest.raises(AuthenticationFailed, match="not a string"):
        verify_token(42)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def", "abc.def"),
        ("bearer   abc", "abc"),
        ("BEARER abc", "abc"),
        ("Basic dXNlcjpwdw==", None),
        ("Bearer", None),
        ("abc", None),
        (None, None),
    ],
)
def test_bearer_header(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


# ----- verification: every refusal reason --------------------------------------------


def test_a_valid_token_gives_its_claims() -> None:
    claims = verify_token(user_token(assignment={"team": "t1"}))
    assert claims["uid"] == "u1"
    assert claims["assignment"] == {"team": "t1"}


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (make_token(USER_CLAIMS, secret="another-secret-that-is-long-enough-000"), "invalid"),
        (unsigned_token(USER_CLAIMS), "algorithm 'none'"),
        (rs256_token(USER_CLAIMS), "algorithm 'RS256'"),
        (make_token(USER_CLAIMS, secret=TEST_JWT_SECRET * 2, algorithm="HS512"), "'HS512'"),
        (make_token(USER_CLAIMS, ttl=-60), "expired"),
        (make_token({**USER_CLAIMS, "nbf": int(time.time()) + 600}), "not yet valid"),
        ("not-a-jwt", "malformed"),
        ("a.b.c", "malformed"),
        (os.urandom(64).decode("latin-1"), "malformed"),
        ("", "malformed"),
        ("x" * 100_000, "too long"),
        (user_token() + "x" * 9_000, "too long"),
        (None, "not a string"),
        ({"token": "t"}, "not a string"),
    ],
    ids=[
        "bad-signature",
        "alg-none",
        "rs256",
        "hs512-not-configured",
        "expired",
        "nbf-future",
        "garbage",
        "three-dots",
        "random-bytes",
        "empty",
        "100kb",
        "too-long-valid-prefix",
        "none",
        "object",
    ],
)
def test_verification_refuses(token: Any, reason: str) -> None:
    with pytest.raises(AuthenticationFailed, match=reason):
        verify_token(token)


def test_a_tampered_payload_is_refused() -> None:
    header, _, signature = user_token(scope="").split(".")
    forged = jwt.utils.base64url_encode(b'{"uid":"u1","scope":"conversation"}').decode()
    with pytest.raises(AuthenticationFailed, match="invalid"):
        verify_token(f"{header}.{forged}.{signature}")


def test_leeway_accepts_a_token_just_expired(settings: Any) -> None:
    token = make_token(USER_CLAIMS, ttl=-2)
    assert verify_token(token)["uid"] == "u1"  # default leeway is 5 s
    reconfigure(settings, JWT_LEEWAY_S=0)
    with pytest.raises(AuthenticationFailed, match="expired"):
        verify_token(token)


def test_other_configured_algorithms_are_accepted(settings: Any) -> None:
    secret = TEST_JWT_SECRET * 2  # HS512 wants a 64-byte key
    reconfigure(settings, JWT_ALGORITHMS=["HS256", "HS512"], JWT_SECRET=secret)
    assert verify_token(make_token(USER_CLAIMS, algorithm="HS512", secret=secret))["uid"] == "u1"
    assert verify_token(make_token(USER_CLAIMS, secret=secret))["uid"] == "u1"


OLD_SECRET = "the-secret-before-the-rotation-long-enough-0123456789"
OLDER_SECRET = "the-secret-before-that-one-long-enough-0123456789"


def test_previous_secrets_verify_during_a_rotation(settings: Any) -> None:
    old_token = make_token(USER_CLAIMS, secret=OLD_SECRET)
    with pytest.raises(AuthenticationFailed, match="invalid"):
        verify_token(old_token)
    reconfigure(settings, JWT_SECRET_PREVIOUS=[OLD_SECRET, OLDER_SECRET])
    assert verify_token(old_token)["uid"] == "u1"
    assert verify_token(make_token(USER_CLAIMS, secret=OLDER_SECRET))["uid"] == "u1"
    assert verify_token(make_token(USER_CLAIMS))["uid"] == "u1"  # JWT_SECRET, the new one
    # an old secret's token is checked for everything else as before
    with pytest.raises(AuthenticationFailed, match="expired"):
        verify_token(make_token(USER_CLAIMS, secret=OLD_SECRET, ttl=-60))
    with pytest.raises(AuthenticationFailed, match="invalid"):
        verify_token(make_token(USER_CLAIMS, secret="a-secret-nobody-configured-0123456789"))
    # only the new secret signs
    minted = mint_token({"uid": "u9"}, ttl_s=60)
    assert jwt.decode(minted, TEST_JWT_SECRET, algorithms=["HS256"])["uid"] == "u9"
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(minted, OLD_SECRET, algorithms=["HS256"])


def test_previous_secrets_as_a_comma_separated_string(settings: Any) -> None:
    reconfigure(settings, JWT_SECRET_PREVIOUS=f" {OLD_SECRET} ,, {OLDER_SECRET}")
    assert jwt_secrets() == (TEST_JWT_SECRET, OLD_SECRET, OLDER_SECRET)
    reconfigure(settings, JWT_SECRET_PREVIOUS="")
    assert jwt_secrets() == (TEST_JWT_SECRET,)


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "other", "iss": "platform"}, "(?i)audience"),
        ({"iss": "platform"}, 'missing the "aud"'),
        ({"aud": "sockets", "iss": "elsewhere"}, "(?i)issuer"),
        ({"aud": "sockets"}, 'missing the "iss"'),
    ],
)
def test_audience_and_issuer_when_configured(
    settings: Any, claims: dict[str, str], reason: str
) -> None:
    reconfigure(settings, JWT_AUDIENCE="sockets", JWT_ISSUER="platform")
    good = make_token({**USER_CLAIMS, "aud": "sockets", "iss": "platform"})
    assert verify_token(good)["uid"] == "u1"
    with pytest.raises(AuthenticationFailed, match=reason):
        verify_token(make_token({**USER_CLAIMS, **claims}))


def test_tokens_without_exp_are_accepted() -> None:
    assert verify_token(make_token(USER_CLAIMS, ttl=None))["uid"] == "u1"


def test_minted_tokens_verify() -> None:
    claims = verify_token(mint_token({"uid": "u9", "scope": "conversation"}, ttl_s=60))
    assert claims["uid"] == "u9"
    assert 55 <= claims["exp"] - time.time() <= 61


# ----- claims to identity -------------------------------------------------------------


def test_user_identity_from_claims() -> None:
    claims = {
        "uid": "u1",
        "account_id": 7,
        "workspace_id": "w1",
        "scope": "conversation analytics  crm",
        "assignment": {"team": "sales"},
        "exp": 2_000_000_000,
    }
    assert identity_from_claims(claims) == UserIdentity(
        uid="u1",
        account_id="7",
        workspace_id="w1",
        scopes=frozenset({"conversation", "analytics", "crm"}),
        assignment={"team": "sales"},
        expires_at=2_000_000_000.0,
    )


def test_minimal_user_identity() -> None:
    identity = identity_from_claims({"uid": 42})
    assert identity == UserIdentity(uid="42")
    assert identity.rooms == ["user:42"]


def test_visitor_identity_from_claims() -> None:
    claims = {"type": "visitor", "visitor_id": "v1", "account_id": "a1", "conversation_id": 5}
    identity = identity_from_claims(claims)
    assert identity == VisitorIdentity(visitor_id="v1", account_id="a1", conversation_id="5")
    assert identity.is_visitor
    assert identity.rooms == ["visitor:v1"]


@pytest.mark.parametrize(
    ("value", "scopes"),
    [
        ("conversation", {"conversation"}),
        ("conversation analytics crm", {"conversation", "analytics", "crm"}),
        (["conversation", "crm"], {"conversation", "crm"}),
        ([], set()),
        ("", set()),
        (None, set()),
    ],
)
def test_scope_claim_forms(value: Any, scopes: set[str]) -> None:
    assert parse_scopes(value) == scopes


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"account_id": "a1", "scope": "conversation"}, "missing claim 'uid'"),
        ({"uid": ""}, "missing claim 'uid'"),
        ({"uid": None}, "missing claim 'uid'"),
        ({"uid": ["u1"]}, "'uid' is not a string"),
        ({"uid": True}, "'uid' is not a string"),
        ({"uid": "u1", "account_id": {"id": 1}}, "'account_id' is not a string"),
        ({"uid": "u1", "scope": 5}, "'scope' is not"),
        ({"uid": "u1", "scope": ["conversation", 5]}, "'scope' is not"),
        ({"uid": "u1", "assignment": "all"}, "'assignment' is not an object"),
        ({"type": "visitor", "visitor_id": "v1", "account_id": "a1"}, "'conversation_id'"),
        ({"type": "visitor", "account_id": "a1", "conversation_id": "c1"}, "'visitor_id'"),
        ({"type": "visitor", "visitor_id": "v1", "conversation_id": "c1"}, "'account_id'"),
    ],
)
def test_claims_refused(claims: dict[str, Any], reason: str) -> None:
    with pytest.raises(AuthenticationFailed, match=reason):
        identity_from_claims(claims)


def test_token_type_is_neither_needed_nor_read() -> None:
    assert identity_from_claims({"uid": "u1", "token_type": "access"}).uid == "u1"
    assert verify_token(user_token())  # platform tokens carry no token_type


# ----- permissions ----------------------------------------------------------------------

USER = UserIdentity(uid="u1", account_id="a1", scopes=frozenset({"conversation"}))
NO_SCOPE = UserIdentity(uid="u2", account_id="a1", scopes=frozenset({"analytics"}))
VISITOR = VisitorIdentity(visitor_id="v1", account_id="a1", conversation_id="c1")
CONVERSATION = [IsAuthenticated, HasScope("conversation")]
LIVE = [IsAuthenticated, HasScope("conversation") | IsVisitor]


def denied(identity: Any, specs: list[Any]) -> str | None:
    error = denial(identity, [as_permission(spec) for spec in specs], None)
    return None if error is None else error.code


@pytest.mark.parametrize(
    ("identity", "specs", "code"),
    [
        (USER, CONVERSATION, None),
        (None, CONVERSATION, "NOT_AUTHENTICATED"),
        (NO_SCOPE, CONVERSATION, "NOT_ENOUGH_SCOPE"),
        (VISITOR, CONVERSATION, "NOT_ENOUGH_SCOPE"),
        (USER, LIVE, None),
        (VISITOR, LIVE, None),
        (NO_SCOPE, LIVE, "NOT_ENOUGH_SCOPE"),
        (None, LIVE, "NOT_AUTHENTICATED"),
        (None, [AllowAny], None),
        (None, [HasScope("conversation")], "NOT_AUTHENTICATED"),
        (VISITOR, [IsVisitor | HasScope("conversation")], None),
        (USER, [IsVisitor | HasScope("conversation")], None),
    ],
)
def test_permissions(identity: Any, specs: list[Any], code: str | None) -> None:
    assert denied(identity, specs) == code


def test_scopes_match_exactly() -> None:
    for scope in ["conversations", "Conversation", "conversation:read", "conv"]:
        identity = UserIdentity(uid="u1", scopes=parse_scopes(scope))
        assert denied(identity, CONVERSATION) == "NOT_ENOUGH_SCOPE", scope


def test_denials_carry_the_contract_errno() -> None:
    assert (NotAuthenticated.code, NotAuthenticated.errno) == ("NOT_AUTHENTICATED", 401)
    assert (NotEnoughScope.code, NotEnoughScope.errno) == ("NOT_ENOUGH_SCOPE", 403)


# ----- settings ----------------------------------------------------------------------------


def test_the_secret_is_required_without_debug(settings: Any) -> None:
    settings.DEBUG = False
    reconfigure(settings, JWT_SECRET="")
    with pytest.raises(ImproperlyConfigured, match="JWT_SECRET is not set"):
        check_settings()


def test_debug_uses_the_development_secret_and_warns(settings: Any, caplog: Any) -> None:
    settings.DEBUG = True
    reconfigure(settings, JWT_SECRET="")
    with caplog.at_level(logging.WARNING, logger="realtime.auth"):
        check_settings()
    assert jwt_secret() == DEV_JWT_SECRET
    assert "development secret" in caplog.text


def test_only_hmac_algorithms_can_be_configured(settings: Any) -> None:
    reconfigure(settings, JWT_ALGORITHMS=["HS256", "RS256"])
    with pytest.raises(ImproperlyConfigured, match="JWT_ALGORITHMS"):
        jwt_algorithms()
    reconfigure(settings, JWT_ALGORITHMS=[])
    with pytest.raises(ImproperlyConfigured, match="JWT_ALGORITHMS"):
        check_settings()


# ----- ApiSession ------------------------------------------------------------------------


@pytest.mark.django_db
def test_api_session_lookup() -> None:
    now = timezone.now()
    ApiSession.objects.create(session_id="live", token="t1", expires_at=now + dt.timedelta(1))
    ApiSession.objects.create(session_id="forever", token="t2")
    ApiSession.objects.create(session_id="old", token="t3", expires_at=now - dt.timedelta(1))
    assert api_session_token(session_id="live") == "t1"
    assert api_session_token(session_id="forever") == "t2"
    assert api_session_token(session_id="old") is None
    assert api_session_token(session_id="unknown") is None


def test_visitor_tokens_verify() -> None:
    claims = verify_token(visitor_token())
    assert identity_from_claims(claims).uid == "visitor:v1"
