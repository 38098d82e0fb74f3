"""Cancelling tasks so that they really end. On Python 3.11, `asyncio.wait_for` (used inside the
ocpp library for every call) can swallow a cancellation that arrives as its inner wait
completes; the task then runs on as if never cancelled. Shutdown and reconnection must not hang
on such a task: cancel, wait a little, and cancel again what is still running."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], grace_s: float = 1.0, rounds: int = 5) -> None:
    """Cancel every task and wait until all have ended (their outcomes are consumed, as
    `gather(..., return_exceptions=True)` would); stragglers are cancelled again each round."""
    everything = list(tasks)
    pending = {task for task in everything if not task.done()}
    for _ in range(rounds):
        if not pending:
            break
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=grace_s)
    for task in pending:
        log.error("task %s did not end after %d cancellations", _name(task), rounds)
    for task in everything:
        if task.done() and not task.cancelled():
            task.exception()


def _name(task: asyncio.Future[Any]) -> str:
    return task.get_name() if isinstance(task, asyncio.Task) else repr(task)
