"""The stall guard opens every contactor when the control loop goes silent, from its own thread."""
from __future__ import annotations

import time

from chargepoint.stall_guard import StallGuard


class FakeTime:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_trips_once_after_the_limit_and_not_before() -> None:
    now = FakeTime()
    trips: list[float] = []
    guard = StallGuard(0.5, lambda: trips.append(now.t), now=now)
    for _ in range(10):
        now.t += 0.1
        guard.beat()
        assert not guard.check()
    now.t += 0.5
    assert not guard.check()  # exactly at the limit
    now.t += 0.01
    assert guard.check() and trips == [now.t]
    now.t += 1.0
    assert not guard.check() and len(trips) == 1  # once per stall
    guard.stalled = False  # the loop noticed and resumed
    guard.beat()
    now.t += 0.6
    assert guard.check() and len(trips) == 2


def test_the_thread_acts_while_the_caller_is_blocked() -> None:
    tripped: list[bool] = []
    guard = StallGuard(0.05, lambda: tripped.append(True))
    guard.beat()
    guard.start()
    try:
        deadline = time.monotonic() + 2.0
        # This loop blocks the caller like a stuck event loop would: no beats.
        while not tripped and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        guard.stop()
    assert tripped == [True]
