"""Small helpers shared by the GPIO drivers."""
from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from gpiozero import DigitalInputDevice, OutputDevice
from gpiozero.pins import Factory

log = logging.getLogger(__name__)

Pin = int | str


def output(pin: Pin, active_high: bool, pin_factory: Factory | None) -> OutputDevice:
    """An output that starts inactive (off): the safe level of every output this package drives."""
    return OutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)


def level_input(pin: Pin, pull_up: bool | None, pin_factory: Factory | None) -> DigitalInputDevice:
    """An input read by electrical level (`pin_level`), whatever its pull.

    gpiozero ties "active" to the pull (pull-up means active-low); the drivers here compare the
    raw level with a configured level instead, so the pull is only about the wiring."""
    if pull_up is None:
        return DigitalInputDevice(pin, pull_up=None, active_state=True, pin_factory=pin_factory)
    return DigitalInputDevice(pin, pull_up=pull_up, pin_factory=pin_factory)


def pin_level(device: DigitalInputDevice) -> bool:
    """The electrical level of an input: True = high."""
    return bool(device.pin.state)


def on_edges(device: DigitalInputDevice, callback: Any) -> None:
    """Call `callback()` on both edges (from gpiozero's callback thread on real pins)."""
    device.when_activated = callback
    device.when_deactivated = callback


class TaskSlot:
    """At most one background task at a time, run on the event loop that built the driver.

    Drivers whose behaviour depends on time (pulse ends, timeouts, blinking) compute everything
    from the clock in a `poll(now)` method; the task only calls `poll` at the right moments, so
    without any loop (or in tests that step by hand) `poll` alone is enough. The control loop
    calls drivers from its own thread: a task started there is handed to the event loop."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._task: asyncio.Task[None] | None = None
        try:
            self._home: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            self._home = None

    def start(self, coro: Coroutine[Any, Any, None]) -> bool:
        loop, here = self._loop()
        if loop is None:
            coro.close()
            return False
        if here:
            self._start(coro)
            return True
        try:
            loop.call_soon_threadsafe(self._start, coro)
        except RuntimeError:  # the loop closed meanwhile
            coro.close()
            return False
        return True

    def cancel(self) -> None:
        loop, here = self._loop()
        if loop is None or here:
            self._cancel()
            return
        try:
            loop.call_soon_threadsafe(self._cancel)
        except RuntimeError:
            self._cancel()

    def _loop(self) -> tuple[asyncio.AbstractEventLoop | None, bool]:
        """The loop to run on, and whether the caller is on its thread."""
        try:
            return asyncio.get_running_loop(), True
        except RuntimeError:
            pass
        home = self._home
        if home is not None and home.is_running() and not home.is_closed():
            return home, False
        return None, False

    def _start(self, coro: Coroutine[Any, Any, None]) -> None:
        self._cancel()
        self._task = asyncio.get_running_loop().create_task(coro, name=self._name)
        self._task.add_done_callback(self._done)

    def _cancel(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
        self._task = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def _done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            log.error("%s task failed: %r", self._name, exc)
