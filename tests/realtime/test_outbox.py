"""The outbox: sends in the order given, posting without waiting, bounded, failures apart."""

from __future__ import annotations

import asyncio

import pytest

from realtime.outbox import Outbox


def recorder(sent: list[str], gate: asyncio.Event | None = None):
    def make(name: str):
        async def send() -> None:
            if gate is not None:
                await gate.wait()
            await asyncio.sleep(0)  # a round trip to Redis takes loop turns
            sent.append(name)

        return send

    return make


@pytest.mark.asyncio
async def test_posts_return_at_once_and_go_out_in_order() -> None:
    outbox, sent = Outbox(), []
    send = recorder(sent)
    for name in ("a", "b", "c"):
        await outbox.post(send(name))
    assert sent == [] and len(outbox) == 3  # queued, nobody waited for Redis
    await outbox.send(send("d"))  # waits for its turn: after everything posted before it
    assert sent == ["a", "b", "c", "d"]


@pytest.mark.asyncio
async def test_a_full_outbox_makes_the_poster_wait() -> None:
    gate = asyncio.Event()
    outbox, sent = Outbox(max_pending=2), []
    send = recorder(sent, gate)
    await outbox.post(send("a"))
    await outbox.post(send("b"))
    await outbox.post(send("c"))  # "a" is being sent: two queued
    blocked = asyncio.ensure_future(outbox.post(send("d")))
    await asyncio.sleep(0.01)
    assert not blocked.done() and len(outbox) == 2
    gate.set()
    await blocked
    await outbox.drained()
    assert sent == ["a", "b", "c", "d"]


@pytest.mark.asyncio
async def test_a_failed_send_fails_alone(caplog: pytest.LogCaptureFixture) -> None:
    outbox, sent = Outbox(), []
    send = recorder(sent)

    async def broken() -> None:
        raise ConnectionError("redis went away")

    await outbox.post(broken)  # nobody waits for it: logged
    with pytest.raises(ConnectionError):
        await outbox.send(broken)  # its caller hears of it
    await outbox.send(send("after"))
    assert sent == ["after"]
    assert "layer send failed" in caplog.text


@pytest.mark.asyncio
async def test_drained_waits_for_what_was_queued() -> None:
    outbox, sent = Outbox(), []
    send = recorder(sent)
    await outbox.drained()  # nothing queued: back at once
    for name in ("a", "b"):
        await outbox.post(send(name))
    await outbox.drained()
    assert sent == ["a", "b"]
