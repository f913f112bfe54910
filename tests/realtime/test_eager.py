"""run_eagerly: no task for a coroutine that never suspends; a task that goes on otherwise."""

from __future__ import annotations

import asyncio

import pytest

from realtime.eager import run_eagerly


async def test_a_coroutine_that_does_not_suspend_runs_at_once_without_a_task() -> None:
    done: list[str] = []

    async def write() -> None:
        done.append("written")

    assert run_eagerly(write()) is None
    assert done == ["written"]


async def test_a_coroutine_that_suspends_goes_on_in_a_task_in_order() -> None:
    steps: list[str] = []
    gate: asyncio.Future[str] = asyncio.get_running_loop().create_future()

    async def write() -> None:
        steps.append("before")
        steps.append(await gate)
        await asyncio.sleep(0)
        steps.append("after")

    task = run_eagerly(write())
    assert task is not None and steps == ["before"]
    gate.set_result("resumed")
    await task
    assert steps == ["before", "resumed", "after"]


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    cleaned: list[bool] = []

    async def write() -> None:
        try:
            await asyncio.sleep(10)
        finally:
            cleaned.append(True)

    task = run_eagerly(write())
    assert task is not None
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cleaned == [True]


async def test_an_exception_after_suspending_is_the_tasks() -> None:
    async def write() -> None:
        await asyncio.sleep(0)
        raise ValueError("gone")

    task = run_eagerly(write())
    assert task is not None
    with pytest.raises(ValueError, match="gone"):
        await task
