"""The group commit's hand-off between the event loop and Django's database thread: the next
batch starts in the thread without waiting for the loop, and a batch's callers are answered
before the loop runs the emits its commit scheduled."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from django.db import transaction

from realtime import metrics
from realtime.batching import GroupCommit
from realtime.emit import emit_all_on_commit, emitted
from realtime.hub import get_hub

pytestmark = pytest.mark.django_db(transaction=True)


async def test_the_next_batch_starts_in_the_database_thread_while_the_loop_is_busy() -> None:
    gate = threading.Event()
    calls: list[list[int]] = []

    def batch(items: list[int]) -> list[int]:
        calls.append(items)
        if items == [0]:
            assert gate.wait(5)
        return items

    writer: GroupCommit[int, int] = GroupCommit(batch)
    first = asyncio.ensure_future(writer.submit(0))
    await asyncio.sleep(0.05)  # the first batch holds the thread
    later = [asyncio.ensure_future(writer.submit(n)) for n in (1, 2)]
    await asyncio.sleep(0.05)  # the second call is queued in the thread by now
    later.append(asyncio.ensure_future(writer.submit(3)))
    await asyncio.sleep(0)

    gate.set()
    time.sleep(0.3)  # the loop does nothing meanwhile: only the thread goes on
    assert calls == [[0], [1, 2, 3]]  # each took what was waiting when it started there
    assert await asyncio.gather(first, *later) == [0, 1, 2, 3]


async def test_callers_are_answered_before_the_emits_their_commit_scheduled(monkeypatch) -> None:
    monkeypatch.setattr(get_hub(), "loop", asyncio.get_running_loop())
    namespace = "/batching-test"

    def emits_run() -> float:
        return metrics.counted(metrics.EVENTS_OUT, namespace, "stored")

    before = emits_run()

    def batch(items: list[int]) -> list[int]:
        with transaction.atomic():  # as a batch of messages: its events go at the commit
            emit_all_on_commit([emitted("stored", n, namespace=namespace, to=None) for n in items])
        time.sleep(0.05)  # the loop runs a turn between the commit and the batch's return
        return items

    writer: GroupCommit[int, int] = GroupCommit(batch)
    seen: list[float] = []

    async def send(n: int) -> int:
        outcome = await writer.submit(n)
        seen.append(emits_run())  # where a handler would send its ack
        return outcome

    assert await asyncio.gather(*map(send, range(5))) == list(range(5))
    assert seen == [before] * 5
    for _ in range(100):
        if emits_run() == before + 5:
            break
        await asyncio.sleep(0.01)
    assert emits_run() == before + 5  # the emits ran after
