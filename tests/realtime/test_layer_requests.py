"""Requests to other processes and their replies, against a real redis-server
(realtime.layerlink.LayerLink.request_all): a process that let a request time out is not
waited for again until it answers."""

from __future__ import annotations

import asyncio
import secrets
from typing import Any

import pytest
import redis

from realtime.layerlink import LayerLink
from realtime.tasks import spawn

ASK = {"type": "sio.ask"}


def ids() -> tuple[str, str, str]:
    """Process ids of their own for each test (the links of a test before go on listening)."""
    return secrets.token_hex(4), secrets.token_hex(4), secrets.token_hex(4)


async def process(process_id: str, delay: float = 0.0) -> LayerLink:
    """A link of another process (its own channel) that answers each ask after `delay`."""
    link = LayerLink(groups=lambda: [], process_id=process_id)

    async def answer(message: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        link.reply(message, {"n": 1})

    link.register("sio.ask", lambda message: spawn(answer(message)))
    assert await link.ready(timeout=5)
    return link


async def ask(asker: LayerLink, others: list[str], timeout: float) -> list[str]:
    """Who answered one request to the others, in a bounded time (a wait for a silent
    process's `timeout` would fail it)."""
    request = asker.request_all(others, ASK, timeout, skip_unanswering=True)
    replies = await asyncio.wait_for(request, 10)
    return sorted(reply["from"] for reply in replies)


@pytest.mark.asyncio
async def test_a_silent_process_costs_one_timeout_then_is_waited_for_once_it_answers(
    pubsub_layer: redis.Redis,
) -> None:
    asker_id, answers, silent = ids()
    asker = await process(asker_id)
    await process(answers)
    others = [answers, silent]

    assert await ask(asker, others, timeout=0.5) == [answers]  # waited the timeout for silent
    assert await ask(asker, others, timeout=30) == [answers]  # not waited for any more

    await process(silent, delay=0.3)  # it comes up, and answers slowly
    assert await ask(asker, others, timeout=30) == [answers]  # its answer comes after
    for _ in range(50):  # ... late, but it counts: silent answers again
        if silent not in asker._unanswering:
            break
        await asyncio.sleep(0.1)
    assert await ask(asker, others, timeout=30) == sorted(others)  # and is waited for again


@pytest.mark.asyncio
async def test_without_skipping_every_process_is_waited_for(pubsub_layer: redis.Redis) -> None:
    """A request to one process (a forwarded poll) waits for it even if it was silent."""
    asker_id, _, silent = ids()
    asker = await process(asker_id)
    assert await asker.request_all([silent], ASK, 0.2, skip_unanswering=True) == []
    await process(silent, delay=0.3)
    replies = await asker.request_all([silent], ASK, 5)
    assert [reply["from"] for reply in replies] == [silent]
