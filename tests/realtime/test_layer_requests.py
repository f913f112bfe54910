"""Requests to other processes and their replies, against a real redis-server
(realtime.layerlink.LayerLink.request_all): a process that let a request time out is not
waited for again until it answers."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import redis

from realtime.layerlink import LayerLink
from realtime.tasks import spawn

ASK = {"type": "sio.ask"}
ASKER, ANSWERS, SILENT = "aaaaaaaa", "bbbbbbbb", "cccccccc"


async def process(process_id: str, delay: float = 0.0) -> LayerLink:
    """A link of another process (its own channel) that answers each ask after `delay`."""
    link = LayerLink(groups=lambda: [], process_id=process_id)

    async def answer(message: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        await link.reply(message, {"n": 1})

    link.register("sio.ask", lambda message: spawn(answer(message)))
    assert await link.ready(timeout=5)
    return link


async def ask(asker: LayerLink, timeout: float) -> list[str]:
    """Who answered one request to both others, in a bounded time (a wait for the silent
    process's `timeout` would fail it)."""
    request = asker.request_all([ANSWERS, SILENT], ASK, timeout, skip_unanswering=True)
    replies = await asyncio.wait_for(request, 10)
    return sorted(reply["from"] for reply in replies)


@pytest.mark.asyncio
async def test_a_silent_process_costs_one_timeout_then_is_waited_for_once_it_answers(
    pubsub_layer: redis.Redis,
) -> None:
    asker = await process(ASKER)
    await process(ANSWERS)

    assert await ask(asker, timeout=0.5) == [ANSWERS]  # waited the timeout for SILENT
    assert await ask(asker, timeout=30) == [ANSWERS]  # not waited for any more

    await process(SILENT, delay=0.3)  # it comes up, and answers slowly
    assert await ask(asker, timeout=30) == [ANSWERS]  # its answer comes after ANSWERS's
    for _ in range(50):  # ... late, but it counts: SILENT answers again
        if SILENT not in asker._unanswering:
            break
        await asyncio.sleep(0.1)
    assert await ask(asker, timeout=30) == [ANSWERS, SILENT]  # so it is waited for again


@pytest.mark.asyncio
async def test_without_skipping_every_process_is_waited_for(pubsub_layer: redis.Redis) -> None:
    """A request to one process (a forwarded poll) waits for it even if it was silent."""
    asker = await process(ASKER)
    assert await asker.request_all([SILENT], ASK, 0.2, skip_unanswering=True) == []
    late = await process(SILENT, delay=0.3)
    replies = await asker.request_all([SILENT], ASK, 5)
    assert [reply["from"] for reply in replies] == [SILENT]
    assert late.process_id == SILENT
