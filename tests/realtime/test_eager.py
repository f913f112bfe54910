"""run_eagerly: no task for a coroutine that never suspends; a task that goes on otherwise."""

from __future__ import annotations

import asyncio
import contextvars

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


async def test_in_a_context_of_its_own_a_variable_set_before_waiting_is_reset_after() -> None:
    """As Django's request handler does; without `context` the task runs in a copy, where the
    token of the first step is refused."""
    variable: contextvars.ContextVar[str] = contextvars.ContextVar("variable", default="outer")
    seen: list[str] = []

    async def handle() -> None:
        token = variable.set("inner")
        await asyncio.sleep(0)
        seen.append(variable.get())
        variable.reset(token)
        seen.append(variable.get())

    task = run_eagerly(handle(), contextvars.copy_context())
    assert task is not None
    await task
    assert seen == ["inner", "outer"]
    assert variable.get() == "outer"  # the caller's context never saw it
    task = run_eagerly(handle())
    assert task is not None
    with pytest.raises(ValueError, match="different Context"):
        await task
