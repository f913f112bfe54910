"""Push services with the memory backend: tokens, invalid-token removal, offline scheduling."""

from __future__ import annotations

import asyncio
import logging

import pytest
from channels.db import database_sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from realtime import limits
from realtime.presence.models import LiveSocket
from realtime.push import backends
from realtime.push.backends import SendStatus, backend_name, fcm_data
from realtime.push.models import DeviceToken
from realtime.push.notify import (
    OfflinePush,
    push_title_body,
    schedule_offline_push,
    schedule_offline_pushes,
)
from realtime.push.services import (
    PushOutcome,
    device_token_register,
    device_token_remove,
    push_to_user,
)


@pytest.fixture
def memory_push(settings):
    settings.REALTIME = {**settings.REALTIME, "PUSH_BACKEND": "memory"}
    backends.memory_reset()
    yield backends.memory_sent
    backends.memory_reset()


def register(uid: str, *tokens: str, platform: str = "android") -> None:
    for token in tokens:
        device_token_register(uid=uid, account_id="acc-1", token=token, platform=platform)


def tokens_of(uid: str) -> set[str]:
    return set(DeviceToken.objects.filter(uid=uid).values_list("token", flat=True))


def test_push_reaches_every_token_of_the_user(db, memory_push):
    register("u1", "tok-a", "tok-b")
    register("u2", "tok-other", platform="web")

    outcome = push_to_user(uid="u1", title="Ann", body="hello", data={"cid": "c1", "n": 3})

    assert outcome == PushOutcome(sent=2, removed=0, failed=0)
    assert len(memory_push) == 1
    assert set(memory_push[0].tokens) == {"tok-a", "tok-b"}
    notification = memory_push[0].notification
    assert (notification.title, notification.body) == ("Ann", "hello")
    assert notification.data == {"cid": "c1", "n": "3"}


def test_invalid_tokens_are_deleted_and_others_kept(db, memory_push):
    register("u1", "tok-live", "tok-dead")
    backends.memory_invalid_tokens.add("tok-dead")

    outcome = push_to_user(uid="u1", title="t", body="b")

    assert outcome == PushOutcome(sent=1, removed=1, failed=0)
    assert tokens_of("u1") == {"tok-live"}


def test_other_errors_are_recorded_then_cleared_by_a_success(db, memory_push):
    register("u1", "tok-flaky")
    backends.memory_failing_tokens["tok-flaky"] = "QuotaExceededError: slow down"

    assert push_to_user(uid="u1", title="t", body="b") == PushOutcome(sent=0, failed=1)
    assert DeviceToken.objects.get(token="tok-flaky").last_error == "QuotaExceededError: slow down"

    backends.memory_failing_tokens.clear()
    assert push_to_user(uid="u1", title="t", body="b") == PushOutcome(sent=1)
    assert DeviceToken.objects.get(token="tok-flaky").last_error == ""


def test_user_without_tokens_gets_nothing_sent(db, memory_push):
    assert push_to_user(uid="nobody", title="t", body="b") == PushOutcome()
    assert memory_push == []


def test_register_moves_a_known_token_to_the_new_user(db):
    register("u1", "tok-shared")
    device = device_token_register(uid="u2", account_id=None, token="tok-shared", platform="ios")

    assert (device.uid, device.platform, device.account_id) == ("u2", "ios", None)
    assert DeviceToken.objects.count() == 1
    assert tokens_of("u1") == set()


@pytest.mark.parametrize(
    ("token", "platform"), [("", "android"), ("t", "pager"), ("x" * 513, "web")]
)
def test_register_refuses_bad_input(db, token, platform):
    with pytest.raises(ValueError):
        device_token_register(uid="u1", account_id=None, token=token, platform=platform)
    assert DeviceToken.objects.count() == 0


def test_remove_says_whether_the_token_was_known(db):
    register("u1", "tok-a")
    assert device_token_remove(token="tok-a") is True
    assert device_token_remove(token="tok-a") is False
    assert tokens_of("u1") == set()


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"title": "Ann", "message": "hi there"}, ("Ann", "hi there")),
        (
            {"message": {"_id": "m1", "content": "from a message object"}},
            ("App", "from a message object"),
        ),
        ({"title": "  ", "message": 42}, ("App", "You have a new message")),
        ("not a dict", ("App", "You have a new message")),
        ({"title": "T" * 300, "message": "b"}, ("T" * 199 + "…", "b")),
    ],
)
def test_title_and_body_come_from_the_payload_when_present(payload, expected):
    derived = push_title_body(payload, default_title="App", default_body="You have a new message")
    assert derived == expected


def test_fcm_data_is_strings_without_reserved_keys():
    data = {
        "cid": "c1",
        "n": 2,
        "ok": True,
        "obj": {"a": 1},
        "none": None,
        "from": "x",
        "gcm.n": "y",
    }
    assert fcm_data(data) == {"cid": "c1", "n": "2", "ok": "true", "obj": '{"a": 1}'}


def test_backend_defaults_to_firebase_only_with_credentials(settings):
    settings.REALTIME = {**settings.REALTIME, "PUSH_BACKEND": "", "FCM_CREDENTIALS": ""}
    assert backend_name() == "log"
    settings.REALTIME = {**settings.REALTIME, "FCM_CREDENTIALS": "/etc/fcm.json"}
    assert backend_name() == "firebase"
    settings.REALTIME = {**settings.REALTIME, "PUSH_BACKEND": "carrier-pigeon"}
    with pytest.raises(ImproperlyConfigured):
        backend_name()


def test_log_backend_reports_every_token_ok(caplog):
    caplog.set_level(logging.INFO, logger="realtime.push.backends")
    results = backends.LogBackend().send(["a", "b"], backends.PushNotification("t", "b"))
    assert [r.status for r in results] == [SendStatus.OK, SendStatus.OK]
    assert "logged, not sent" in caplog.text


def live_socket(uid: str) -> LiveSocket:
    now = timezone.now()
    return LiveSocket.objects.create(
        sid=f"sid-{uid}",
        namespace="/v1/conversation",
        uid=uid,
        instance_id="inst-1",
        transport="websocket",
        connected_at=now,
        last_seen=now,
    )


@database_sync_to_async
def given_users_online_and_offline() -> None:
    register("online", "tok-online")
    register("offline-1", "tok-off-1")
    register("offline-2", "tok-off-2", "tok-off-2b")
    live_socket("online")


@pytest.mark.django_db(transaction=True)
async def test_offline_push_skips_users_with_a_live_socket(memory_push):
    await given_users_online_and_offline()

    task = schedule_offline_push(
        ["online", "offline-1", "offline-2", "offline-1"], title="Ann", body="hi", data={"n": 1}
    )
    assert task is not None
    assert memory_push == []  # the caller returned before anything was sent
    await asyncio.wait_for(task, 10)

    pushed = sorted(token for push in memory_push for token in push.tokens)
    assert pushed == ["tok-off-1", "tok-off-2", "tok-off-2b"]
    assert {push.notification.data["n"] for push in memory_push} == {"1"}


@pytest.mark.django_db(transaction=True)
async def test_offline_pushes_of_a_batch_go_each_to_its_offline_users(memory_push):
    await given_users_online_and_offline()
    pushes = [
        OfflinePush(["online", "offline-1", "nobody"], "one", "b", {"n": 1}),
        OfflinePush(["offline-1", "offline-2"], "two", "b", {"n": 2}),
    ]

    task = schedule_offline_pushes(pushes)
    assert task is not None
    await asyncio.wait_for(task, 10)

    sent = sorted((push.notification.title, token) for push in memory_push for token in push.tokens)
    assert sent == [
        ("one", "tok-off-1"),
        ("two", "tok-off-1"),
        ("two", "tok-off-2"),
        ("two", "tok-off-2b"),
    ]


@pytest.mark.django_db(transaction=True)
async def test_a_user_with_a_socket_on_this_process_gets_no_push(memory_push, monkeypatch):
    await given_users_online_and_offline()  # offline-1 has no row in the registry (yet)
    monkeypatch.setitem(limits._user_sockets, "offline-1", 1)

    task = schedule_offline_push(["offline-1", "offline-2"], title="t", body="b")
    assert task is not None
    await asyncio.wait_for(task, 10)

    assert sorted(token for push in memory_push for token in push.tokens) == [
        "tok-off-2",
        "tok-off-2b",
    ]


@pytest.mark.django_db(transaction=True)
async def test_offline_push_logs_failures_instead_of_raising(settings, caplog):
    await given_users_online_and_offline()
    settings.REALTIME = {**settings.REALTIME, "PUSH_BACKEND": "carrier-pigeon"}

    task = schedule_offline_push(["offline-1"], title="t", body="b")
    assert task is not None
    await asyncio.wait_for(task, 10)

    assert task.exception() is None
    assert "offline push to user offline-1 failed" in caplog.text
    assert await database_sync_to_async(tokens_of)("offline-1") == {"tok-off-1"}


def test_offline_push_without_a_loop_or_users_does_nothing(caplog):
    assert schedule_offline_push([], title="t", body="b") is None
    assert schedule_offline_push(["u1"], title="t", body="b") is None
    assert "needs a running event loop" in caplog.text
