"""The outbox: sends in the order given, posting without waiting, bounded, failures apart;
group sends queued together leave in one publish."""

from __future__ import annotations

import asyncio

import pytest

from realtime.outbox import Outbox
from realtime.pipelined import Pairs


async def unused_publish(pairs: Pairs) -> None:
    raise AssertionError("no group sends in this test")


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
    outbox, sent = Outbox(unused_publish), []
    send = recorder(sent)
    for name in ("a", "b", "c"):
        await outbox.post(send(name))
    assert sent == [] and len(outbox) == 3  # queued, nobody waited for Redis
    await outbox.send(send("d"))  # waits for its turn: after everything posted before it
    assert sent == ["a", "b", "c", "d"]


@pytest.mark.asyncio
async def test_a_full_outbox_makes_the_poster_wait() -> None:
    gate = asyncio.Event()
    outbox, sent = Outbox(unused_publish, max_pending=2), []
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
    outbox, sent = Outbox(unused_publish), []
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
    outbox, sent = Outbox(unused_publish), []
    send = recorder(sent)
    await outbox.drained()  # nothing queued: back at once
    for name in ("a", "b"):
        await outbox.post(send(name))
    await outbox.drained()
    assert sent == ["a", "b"]


def publisher(calls: list[list[str]], gate: asyncio.Event | None = None):
    """A publish function that records each call's groups."""

    async def publish(pairs: Pairs) -> None:
        if gate is not None:
            await gate.wait()
        await asyncio.sleep(0)
        calls.append([group for group, _ in pairs])

    return publish


@pytest.mark.asyncio
async def test_group_sends_queued_together_leave_in_one_publish() -> None:
    gate = asyncio.Event()
    calls: list[list[str]] = []
    outbox, sent = Outbox(publisher(calls, gate)), []
    await outbox.post_group_sends([("a", {})])
    await asyncio.sleep(0.01)  # taken alone (nothing queued behind it then), held at the gate
    for group in ("b", "c"):
        await outbox.post_group_sends([(group, {}), (group + "2", {})])
    await outbox.post(recorder(sent)("direct"))  # a send of its own: not in a publish
    await outbox.post_group_sends([("d", {})])
    gate.set()
    await outbox.post_group_sends([("e", {})], wait=True)
    assert calls == [["a"], ["b", "b2", "c", "c2"], ["d", "e"]]
    assert sent == ["direct"]


@pytest.mark.asyncio
async def test_a_failed_publish_reaches_the_callers_who_wait(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(pairs: Pairs) -> None:
        raise ConnectionError("redis went away")

    outbox = Outbox(broken)
    await outbox.post_group_sends([("posted", {})])
    with pytest.raises(ConnectionError):
        await outbox.post_group_sends([("waited", {})], wait=True)
    assert "layer send failed" in caplog.text


@pytest.mark.asyncio
async def test_a_publish_takes_max_pending_entries_at_most() -> None:
    gate = asyncio.Event()
    calls: list[list[str]] = []
    outbox = Outbox(publisher(calls, gate), max_pending=2)
    posts = [asyncio.ensure_future(outbox.post_group_sends([(g, {})])) for g in "abcde"]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.gather(*posts)
    await outbox.drained()
    assert calls == [["a", "b"], ["c", "d"], ["e"]]
