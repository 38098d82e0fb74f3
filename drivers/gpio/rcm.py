"""Residual-current monitor (RDC-DD / RCMB module) on GPIO: a fault input and a test output.

The module's fault output must open the contactor in hardware on its own (charging-facts §3.1:
software is informed afterwards). This driver tells the core, latches the fault in software until
`reset()`, and runs the module's self-test.

Self-test, after Tinkerforge's sequence for the X804/X904 sensors: drive TST for
`test_pulse_s` (250 ms; the modules accept 30 ms...1.2 s), expect the fault output within
`expect_trip_within_s` of the start of the pulse (typically 660-740 ms), then expect it to clear
within `expect_release_within_s` of the start (typically ~1.2 s). Timing uses the injected clock."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from gpiozero.pins import Factory

from drivers.gpio._pins import Pin, level_input, on_edges, output, pin_level
from hal.clock import Clock, SystemClock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RcmSelfTestResult:
    passed: bool
    reason: str
    trip_after_s: float | None = None  # from the start of the test pulse
    release_after_s: float | None = None


class GpioRcm:
    """Implements hal.contracts.ResidualCurrentMonitor.

    `tripped()` is latched: once the fault input was seen active (polled on every call, and
    caught on the edge callback so a short pulse between two control steps is not missed), it
    stays True until `reset()` is called with the input inactive. The expected trip during a
    self-test is not latched. Without a test pin (`test_pin=None`, a module that tests itself)
    `self_test()` can only check that the fault output is clear, and says so in its result."""

    def __init__(self, fault_pin: Pin, test_pin: Pin | None, fault_active_high: bool = True,
                 clock: Clock | None = None, test_pulse_s: float = 0.25, expect_trip_within_s: float = 0.8,
                 expect_release_within_s: float = 1.5, *, test_active_high: bool = True,
                 fault_pull_up: bool | None = None, poll_s: float = 0.01,
                 pin_factory: Factory | None = None) -> None:
        if not 0 < test_pulse_s < expect_trip_within_s < expect_release_within_s:
            raise ValueError("RCM self-test timing must satisfy 0 < test_pulse_s < expect_trip_within_s"
                             " < expect_release_within_s")
        self._clock = clock or SystemClock()
        self.test_pulse_s = test_pulse_s
        self.expect_trip_within_s = expect_trip_within_s
        self.expect_release_within_s = expect_release_within_s
        self.poll_s = poll_s
        self._active_level = bool(fault_active_high)
        self._fault = level_input(fault_pin, fault_pull_up, pin_factory)
        self._test = None
        if test_pin is not None:
            try:
                self._test = output(test_pin, test_active_high, pin_factory)
            except Exception:
                self._fault.close()
                raise
        self._latched = False
        self._testing = False
        self._activated_at: float | None = None  # last activation edge seen (for the self-test)
        self.last_self_test: RcmSelfTestResult | None = None
        on_edges(self._fault, self._edge)
        self._edge()  # an input already active at start-up latches at once

    # ---- hal.contracts.ResidualCurrentMonitor ------------------------------------------------

    def input_active(self) -> bool:
        """The fault output of the module right now (not latched)."""
        return pin_level(self._fault) == self._active_level

    def tripped(self) -> bool:
        if not self._testing and self.input_active():
            self._latched = True
        return self._latched

    def reset(self) -> None:
        """Re-arm. A fault output that is still active keeps the latch set."""
        self._latched = (not self._testing) and self.input_active()

    async def self_test(self) -> bool:
        result = await self._run_self_test()
        self.last_self_test = result
        (log.info if result.passed else log.error)("RCM self-test: %s", result.reason)
        return result.passed

    # ---- internals ---------------------------------------------------------------------------

    def _edge(self) -> None:
        if self.input_active():
            self._activated_at = self._clock.monotonic()
            if not self._testing:
                self._latched = True

    async def _run_self_test(self) -> RcmSelfTestResult:
        clock = self._clock
        if self.input_active():
            return RcmSelfTestResult(False, "fault output active before the test: cannot test")
        if self._test is None:
            return RcmSelfTestResult(True, "no test output wired: only checked that the fault output is clear")
        self._testing = True
        start = clock.monotonic()
        self._activated_at = None
        tripped_at: float | None = None
        try:
            self._test.on()
            pulse_end = start + self.test_pulse_s
            trip_deadline = start + self.expect_trip_within_s
            release_deadline = start + self.expect_release_within_s
            while True:
                now = clock.monotonic()
                if self._test.value and now >= pulse_end:
                    self._test.off()
                active = self.input_active()
                if tripped_at is None and (active or self._activated_at is not None):
                    tripped_at = self._activated_at if self._activated_at is not None else now
                    tripped_at = min(max(tripped_at, start), now)
                if tripped_at is None:
                    if now >= trip_deadline:
                        return RcmSelfTestResult(
                            False, f"fault output did not trip within {self.expect_trip_within_s:.2f} s of the test pulse")
                elif not active:
                    return RcmSelfTestResult(
                        True, f"tripped after {tripped_at - start:.3f} s, released after {now - start:.3f} s",
                        trip_after_s=tripped_at - start, release_after_s=now - start)
                elif now >= release_deadline:
                    return RcmSelfTestResult(
                        False, f"fault output still active {self.expect_release_within_s:.2f} s after the test pulse",
                        trip_after_s=tripped_at - start)
                deadlines = [d for d in (pulse_end, trip_deadline, release_deadline) if d > now]
                await clock.sleep(min([self.poll_s] + [d - now for d in deadlines]))
        finally:
            self._test.off()
            self._testing = False

    def close(self) -> None:
        try:
            if self._test is not None:
                self._test.off()
                self._test.close()
        finally:
            self._fault.close()
