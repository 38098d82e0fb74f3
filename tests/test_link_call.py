"""V16Link._call: a call in flight ends with LinkDown as soon as the receive task ends, without
a task of its own, and the drop never cancels anything but that call."""
from __future__ import annotations

import asyncio
from typing import Any

import pytest

from chargepoint.ocpp.v16.link import LinkDown, V16Link


class FakeClock:
    def monotonic(self) -> float:
        return 123.0


class FakeSession:
    """`call` waits for `answer` to be set, as the library's call waits for the CSMS."""

    def __init__(self) -> None:
        self.answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self.cancelled = False

    async def call(self, payload: Any, suppress: bool = True) -> Any:
        try:
            return await self.answer
        except asyncio.CancelledError:
            self.cancelled = True
            raise


def link_with(session: FakeSession, recv: asyncio.Task[Any]) -> V16Link:
    link = V16Link.__new__(V16Link)
    link._session = session  # type: ignore[assignment]
    link._recv_task = recv
    link.clock = FakeClock()  # type: ignore[assignment]
    link._last_exchange = 0.0
    return link


async def test_answer_is_returned() -> None:
    session, recv = FakeSession(), asyncio.create_task(asyncio.sleep(60))
    link = link_with(session, recv)
    asyncio.get_running_loop().call_soon(session.answer.set_result, "ok")
    assert await link._call(object()) == "ok"
    assert link._last_exchange == 123.0
    recv.cancel()


async def test_drop_during_the_call_raises_link_down_at_once() -> None:
    session, recv_done = FakeSession(), asyncio.Event()
    recv = asyncio.create_task(recv_done.wait())
    link = link_with(session, recv)
    caller = asyncio.create_task(link._call(object()))
    await asyncio.sleep(0)
    recv_done.set()
    with pytest.raises(LinkDown):
        await asyncio.wait_for(caller, 1.0)
    assert session.cancelled
    assert link._last_exchange == 0.0


async def test_drop_as_the_answer_arrives_does_not_cancel_the_caller_later() -> None:
    session, recv_done = FakeSession(), asyncio.Event()
    recv = asyncio.create_task(recv_done.wait())
    link = link_with(session, recv)

    async def caller() -> str:
        try:
            first = await link._call(object())
        except LinkDown:
            first = "down"
        for _ in range(5):
            await asyncio.sleep(0)  # a stray cancellation would land here
        return first

    task = asyncio.create_task(caller())
    await asyncio.sleep(0)
    # The receive task ends first, then the answer wakes the caller before the drop callback
    # (scheduled when the receive task ends) gets its turn.
    recv_done.set()
    session.answer.set_result("ok")
    assert await asyncio.wait_for(task, 1.0) == "ok"


async def test_outside_cancellation_stays_a_cancellation() -> None:
    session, recv_done = FakeSession(), asyncio.Event()
    recv = asyncio.create_task(recv_done.wait())
    link = link_with(session, recv)
    caller = asyncio.create_task(link._call(object()))
    await asyncio.sleep(0)
    caller.cancel()
    recv_done.set()  # the drop in the same turn does not turn it into LinkDown
    with pytest.raises(asyncio.CancelledError):
        await caller


async def test_no_call_once_the_link_is_down() -> None:
    recv = asyncio.create_task(asyncio.sleep(0))
    await recv
    with pytest.raises(LinkDown):
        await link_with(FakeSession(), recv)._call(object())
