"""Tearing tasks down must end them even when one swallows a cancellation, as asyncio.wait_for
can on Python 3.11 when its inner wait completes at the moment of the cancel."""
from __future__ import annotations

import asyncio

from chargepoint.task_teardown import cancel_and_wait


async def test_a_task_that_swallows_one_cancellation_is_cancelled_again() -> None:
    swallowed = asyncio.Event()

    async def stubborn() -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            asyncio.current_task().uncancel()  # type: ignore[union-attr]
            swallowed.set()
        await asyncio.Event().wait()  # runs on as if never cancelled

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(cancel_and_wait([task], grace_s=0.05), 2.0)
    assert swallowed.is_set()
    assert task.cancelled()


async def test_outcomes_are_consumed_and_finished_tasks_left_alone() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    async def done() -> int:
        return 1

    failing, finished = asyncio.create_task(fails()), asyncio.create_task(done())
    await asyncio.sleep(0)
    await cancel_and_wait([failing, finished])
    assert finished.result() == 1
    assert isinstance(failing.exception(), RuntimeError)
