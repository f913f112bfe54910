"""The firebase backend through firebase-admin's real client, against a local FCM stand-in."""

from __future__ import annotations

import json

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from realtime.push.backends import backend_name, firebase_app_reset
from realtime.push.models import DeviceToken
from realtime.push.services import PushOutcome, device_token_register, push_to_user
from tests.support.fcm_standin import FcmStandIn, write_service_account

# the backend sends to `token` on purpose (see backends.fcm_message); firebase-admin warns
pytestmark = pytest.mark.filterwarnings("ignore:Message.token is deprecated:DeprecationWarning")

PROJECT = "gs-push-test"
GOOGLE_TOKEN_AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's fixed `aud`
INVALID_ARGUMENT = {
    "error": {
        "code": 400,
        "message": "The registration token is not a valid FCM registration token",
        "status": "INVALID_ARGUMENT",
    }
}
SENDER_ID_MISMATCH = {
    "error": {
        "code": 403,
        "message": "SenderId mismatch",
        "status": "PERMISSION_DENIED",
        "details": [
            {
                "@type": "type.googleapis.com/google.firebase.fcm.v1.FcmError",
                "errorCode": "SENDER_ID_MISMATCH",
            }
        ],
    }
}


@pytest.fixture
def standin():
    server = FcmStandIn().start()
    yield server
    server.stop()


@pytest.fixture
def account_file(tmp_path, standin):
    return write_service_account(
        tmp_path / "service-account.json", project_id=PROJECT, token_uri=standin.token_uri
    )


@pytest.fixture
def firebase_push(settings, standin, account_file):
    """PUSH_BACKEND left empty: FCM_CREDENTIALS alone selects firebase."""
    settings.REALTIME = {
        **settings.REALTIME,
        "PUSH_BACKEND": "",
        "FCM_CREDENTIALS": str(account_file),
        "FCM_API_BASE": standin.url,
    }
    firebase_app_reset()
    yield standin.state
    firebase_app_reset()


def register(uid: str, *tokens: str) -> None:
    for token in tokens:
        device_token_register(uid=uid, account_id="acc-1", token=token, platform="android")


def tokens_of(uid: str) -> set[str]:
    return set(DeviceToken.objects.filter(uid=uid).values_list("token", flat=True))


def test_messages_reach_fcm_with_a_bearer_token_and_dead_tokens_go(db, firebase_push):
    assert backend_name() == "firebase"
    register("u1", "tok-a", "tok-b", "tok-dead")
    register("u2", "tok-u2")
    firebase_push.invalid_tokens.add("tok-dead")

    outcome = push_to_user(uid="u1", title="Ann", body="hello", data={"cid": "c1", "n": 2})

    assert outcome == PushOutcome(sent=2, removed=1, failed=0)
    assert sorted(message.token for message in firebase_push.sent) == ["tok-a", "tok-b", "tok-dead"]
    for message in firebase_push.sent:
        assert message.project == PROJECT
        assert message.authorization == f"Bearer {firebase_push.access_token}"
        assert message.body == {
            "message": {
                "token": message.token,
                "notification": {"title": "Ann", "body": "hello"},
                "data": {"cid": "c1", "n": "2"},
            }
        }
    assert tokens_of("u1") == {"tok-a", "tok-b"}
    assert tokens_of("u2") == {"tok-u2"}


def test_the_oauth_assertion_is_signed_with_the_service_account_key(
    db, firebase_push, account_file
):
    register("u1", "tok-a")
    push_to_user(uid="u1", title="t", body="b")
    push_to_user(uid="u1", title="t", body="b")

    assert len(firebase_push.sent) == 2
    assert len(firebase_push.token_requests) == 1  # the access token is reused
    form = firebase_push.token_requests[0]
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    account = json.loads(account_file.read_text())
    public_key = serialization.load_pem_private_key(
        account["private_key"].encode(), password=None
    ).public_key()
    claims = jwt.decode(
        form["assertion"][0], public_key, algorithms=["RS256"], audience=GOOGLE_TOKEN_AUDIENCE
    )
    assert claims["iss"] == account["client_email"]
    assert "https://www.googleapis.com/auth/firebase" in claims["scope"].split()


def test_invalid_registration_goes_and_other_errors_are_recorded(db, firebase_push):
    register("u1", "tok-ok", "tok-malformed", "tok-other-sender")
    firebase_push.replies["tok-malformed"] = (400, INVALID_ARGUMENT)
    firebase_push.replies["tok-other-sender"] = (403, SENDER_ID_MISMATCH)

    outcome = push_to_user(uid="u1", title="t", body="b")

    assert outcome == PushOutcome(sent=1, removed=1, failed=1)
    assert tokens_of("u1") == {"tok-ok", "tok-other-sender"}
    error = DeviceToken.objects.get(token="tok-other-sender").last_error
    assert error.startswith("SenderIdMismatchError")
    assert DeviceToken.objects.get(token="tok-ok").last_error == ""


def test_a_notification_without_data_sends_no_data_field(db, firebase_push):
    register("u1", "tok-a")
    assert push_to_user(uid="u1", title="Only a title", body="") == PushOutcome(sent=1)
    assert firebase_push.sent[0].body["message"] == {
        "token": "tok-a",
        "notification": {"title": "Only a title"},
    }
