"""The periodic control loop: every period, each EVSE controller samples and acts. It runs
before anything else on the loop each cycle and never awaits anything but the next period."""
from __future__ import annotations

from collections.abc import Callable

from chargepoint.evse.controller import EvseController
from chargepoint.evse.events import EvseEvent
from hal.clock import Clock


async def run_control_loop(controllers: list[EvseController], clock: Clock, period_s: float,
                           on_events: Callable[[list[EvseEvent]], None],
                           on_cycle: Callable[[], None] | None = None) -> None:
    while True:
        now = clock.monotonic()
        for controller in controllers:
            events = controller.step(now)
            if events:
                on_events(events)
        if on_cycle is not None:
            on_cycle()
        await clock.sleep(period_s)
