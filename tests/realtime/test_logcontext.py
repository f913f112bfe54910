"""Structured log lines: JSON with the socket's sid, namespace and uid when one is at work."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from realtime.logcontext import ContextFormatter, JsonFormatter, bind_socket, socket_context


def record(message: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("boom")
        except ValueError:
            exc_info = sys.exc_info()
    rec = logging.LogRecord("realtime.test", logging.WARNING, __file__, 1, message, args, exc_info)
    rec.__dict__.update(extra)
    return rec


def test_json_line_without_a_socket() -> None:
    token = socket_context.set(None)
    try:
        line = JsonFormatter().format(record("hello %s", "world"))
    finally:
        socket_context.reset(token)
    entry = json.loads(line)
    assert entry["message"] == "hello world"
    assert entry["level"] == "WARNING"
    assert entry["logger"] == "realtime.test"
    assert "sid" not in entry
    assert entry["time"].endswith("+00:00")


def test_json_line_names_the_socket_of_the_task() -> None:
    async def handler() -> str:
        bind_socket("sid123", "/v1/shared", "u1")
        return JsonFormatter().format(record("in a handler", exc=True, job="42"))

    entry = json.loads(asyncio.run(handler()))
    assert (entry["sid"], entry["namespace"], entry["uid"]) == ("sid123", "/v1/shared", "u1")
    assert entry["job"] == "42"
    assert "ValueError: boom" in entry["exc"]


def test_context_of_one_task_does_not_leak_into_another() -> None:
    async def main() -> tuple[str, str]:
        async def tagged() -> str:
            bind_socket("a", "/x", None)
            return JsonFormatter().format(record("tagged"))

        async def untagged() -> str:
            return JsonFormatter().format(record("untagged"))

        return await asyncio.create_task(tagged()), await asyncio.create_task(untagged())

    tagged, untagged = asyncio.run(main())
    assert json.loads(tagged)["sid"] == "a" and "uid" not in json.loads(tagged)
    assert "sid" not in json.loads(untagged)


def test_plain_format_appends_the_socket() -> None:
    async def handler() -> str:
        bind_socket("s9", "/v1/conversation", "u7")
        return ContextFormatter("%(levelname)s %(message)s").format(record("hi"))

    assert asyncio.run(handler()) == "WARNING hi [sid=s9 namespace=/v1/conversation uid=u7]"
