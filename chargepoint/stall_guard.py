"""A guard outside the event loop. The control loop beats it every cycle; if the beats stop for
longer than the limit (a blocked event loop, a runaway handler), the guard's own thread opens
every contactor and drives the pilots to state F at once. It measures the real process, so it
reads the real monotonic clock, not the injected one."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)


class StallGuard:
    def __init__(self, limit_s: float, on_stall: Callable[[], None],
                 now: Callable[[], float] = time.monotonic) -> None:
        self.limit_s = limit_s
        self._on_stall = on_stall
        self._now = now
        self._last = now()
        self.stalled = False  # set by the guard, read and cleared by the control loop
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def beat(self) -> None:
        self._last = self._now()

    def check(self) -> bool:
        """One look; True when it tripped just now."""
        if self.stalled or self._now() - self._last <= self.limit_s:
            return False
        self.stalled = True
        try:
            self._on_stall()
        finally:
            log.critical("control loop silent for more than %.0f ms: outputs forced safe", self.limit_s * 1000)
        return True

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="stall-guard", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=1.0)

    def _run(self) -> None:
        period = max(0.005, self.limit_s / 5)
        while not self._stop.wait(period):
            self.check()
