"""The periodic control loop: every period, each EVSE controller samples and acts.

In the running controller the loop has a thread of its own (`ControlThread`): nothing the event
loop does (a slow fsync, a large OCPP message, a busy handler) can delay a safety reaction. The
HAL calls it makes are synchronous and short. `run_control_loop` is the same loop as a coroutine,
for tests that drive everything from one manual clock."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from chargepoint.evse.controller import EvseController
from chargepoint.evse.events import EvseEvent
from hal.clock import Clock

log = logging.getLogger(__name__)


def control_cycle(controllers: list[EvseController], now: float,
                  on_events: Callable[[list[EvseEvent]], None]) -> bool:
    """One cycle over every EVSE; True when all of them are quiet (no EV, nothing energised)."""
    quiet = True
    for controller in controllers:
        events = controller.step(now)
        if events:
            on_events(events)
        quiet = quiet and controller.quiet
    return quiet


async def run_control_loop(controllers: list[EvseController], clock: Clock, period_s: float,
                           on_events: Callable[[list[EvseEvent]], None],
                           on_cycle: Callable[[], None] | None = None) -> None:
    while True:
        control_cycle(controllers, clock.monotonic(), on_events)
        if on_cycle is not None:
            on_cycle()
        await clock.sleep(period_s)


class RealTimeClock(Protocol):
    """A clock whose seconds map onto real seconds (the system clock, or a fast-forwarded one)."""

    def monotonic(self) -> float: ...

    def real_seconds(self, seconds: float) -> float: ...


class ControlThread:
    """Runs the control cycle every `period_s` (every `quiet_period_s` while every EVSE is quiet:
    an EV arriving is seen that much later, which costs nothing in safety, and an idle box
    wakes far less often). Events go to `on_events` from this thread; `on_failure` is told if
    a cycle raises, after the outputs were made safe."""

    def __init__(self, controllers: list[EvseController], clock: RealTimeClock, period_s: float,
                 quiet_period_s: float, on_events: Callable[[list[EvseEvent]], None],
                 on_cycle: Callable[[], None], on_failure: Callable[[BaseException], None],
                 make_safe: Callable[[], None]) -> None:
        self._controllers = controllers
        self._clock = clock
        self._period_s = period_s
        self._quiet_period_s = max(period_s, quiet_period_s)
        self._on_events = on_events
        self._on_cycle = on_cycle
        self._on_failure = on_failure
        self._make_safe = make_safe
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="control-loop", daemon=True)
        self.cycles = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout_s)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                started = time.monotonic()
                quiet = control_cycle(self._controllers, self._clock.monotonic(), self._on_events)
                self.cycles += 1
                self._on_cycle()
                period = self._clock.real_seconds(self._quiet_period_s if quiet else self._period_s)
                # The period runs from the start of one cycle to the next, not from its end.
                self._stop.wait(max(0.0, started + period - time.monotonic()))
        except BaseException as exc:  # noqa: BLE001 - any failure must leave the outputs safe
            try:
                self._make_safe()
            finally:
                log.critical("control loop failed: outputs made safe", exc_info=exc)
                self._on_failure(exc)
