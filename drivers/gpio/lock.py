"""Socket (Type 2 outlet) cable lock on GPIO, with an optional position-feedback input.

Two kinds of actuator:

- motor lock (`unlock_pin` given): a pulse of `pulse_s` on the lock line drives it locked, a
  pulse on the unlock line drives it unlocked; the two lines are never on together (the other
  line is switched off before a pulse starts, so an H-bridge never shoots through);
- holding solenoid (`unlock_pin=None`): the lock line is held on while locked.

`set_locked` is on the control path and must not block, so it only switches GPIOs and notes the
time. The rest is computed from the injected clock in `poll(now)`: it ends the pulse once
`pulse_s` has passed and sets `failed` when the feedback has not followed `timeout_s` after the
command. A small asyncio task started by `set_locked` (when a loop is running) calls `poll` at
exactly those two moments; whoever steps time by hand (tests, a board service) may call `poll`
itself. A thread-based gpiozero `blink(n=1)` would do the pulse as well, but on real time
instead of the injected clock, and writing the pins from a second thread.
"""
from __future__ import annotations

import logging
import threading

from gpiozero.pins import Factory

from drivers.gpio._pins import Pin, TaskSlot, level_input, output, pin_level
from hal.clock import Clock, SystemClock

log = logging.getLogger(__name__)


class GpioSocketLock:
    """Implements hal.contracts.SocketLock. Starts with every output off, commanded unlocked.

    `failed` is True once the feedback did not reach the commanded position within
    `timeout_s` of the command (or left it afterwards); it stays True until the next command.
    A repeated `set_locked` with the same value is a no-op unless the last attempt failed, in
    which case it retries. Without a feedback pin `feedback_locked()` is None and `failed`
    stays False."""

    def __init__(self, lock_pin: Pin, unlock_pin: Pin | None = None, feedback_pin: Pin | None = None,
                 feedback_locked_level: bool = True, pulse_s: float = 0.3, timeout_s: float = 1.0,
                 clock: Clock | None = None, *, active_high: bool = True, feedback_pull_up: bool | None = None,
                 pin_factory: Factory | None = None) -> None:
        if pulse_s <= 0 or timeout_s <= 0:
            raise ValueError("lock pulse_s and timeout_s must be positive")
        self._clock = clock or SystemClock()
        self.pulse_s = pulse_s
        self.timeout_s = timeout_s
        self._locked_level = bool(feedback_locked_level)
        devices = []
        try:
            self._lock_out = output(lock_pin, active_high, pin_factory)
            devices.append(self._lock_out)
            self._unlock_out = output(unlock_pin, active_high, pin_factory) if unlock_pin is not None else None
            if self._unlock_out is not None:
                devices.append(self._unlock_out)
            self._feedback = level_input(feedback_pin, feedback_pull_up, pin_factory) if feedback_pin is not None else None
        except Exception:
            for d in devices:
                d.close()
            raise
        self._commanded = False
        self._commanded_at: float | None = None
        self._pulse_until: float | None = None  # end of the running motor pulse
        self._failed = False
        self._timer = TaskSlot("socket-lock")
        # Commands come from the control loop's thread, timer polls from the event loop.
        self._mutex = threading.RLock()

    @property
    def motorised(self) -> bool:
        return self._unlock_out is not None

    # ---- hal.contracts.SocketLock ------------------------------------------------------------

    def set_locked(self, locked: bool) -> None:
        with self._mutex:
            self._set_locked(bool(locked))

    def _set_locked(self, locked: bool) -> None:
        if locked == self._commanded and self._commanded_at is not None and not self._failed:
            return
        now = self._clock.monotonic()
        self._commanded = locked
        self._commanded_at = now
        self._failed = False
        if self._unlock_out is None:
            self._lock_out.value = locked  # holding solenoid
        else:
            active, other = (self._lock_out, self._unlock_out) if locked else (self._unlock_out, self._lock_out)
            other.off()
            active.on()
            self._pulse_until = now + self.pulse_s
        self._timer.start(self._run_timer())

    @property
    def commanded_locked(self) -> bool:
        return self._commanded

    def feedback_locked(self) -> bool | None:
        if self._feedback is None:
            return None
        return pin_level(self._feedback) == self._locked_level

    # ---- time-dependent part -------------------------------------------------------------------

    @property
    def failed(self) -> bool:
        self.poll(self._clock.monotonic())
        return self._failed

    @property
    def pulsing(self) -> bool:
        return self._pulse_until is not None

    def poll(self, now: float) -> None:
        """End a pulse that has lasted `pulse_s`; flag a feedback that has not followed."""
        with self._mutex:
            self._poll(now)

    def _poll(self, now: float) -> None:
        if self._pulse_until is not None and now >= self._pulse_until:
            self._end_pulse()
        if (not self._failed and self._commanded_at is not None and self._feedback is not None
                and now - self._commanded_at >= self.timeout_s and self.feedback_locked() != self._commanded):
            self._failed = True
            log.error("socket lock did not %s within %.2f s (feedback %s)", "lock" if self._commanded else "unlock",
                      self.timeout_s, "locked" if self.feedback_locked() else "unlocked")

    def _end_pulse(self) -> None:
        self._lock_out.off()
        if self._unlock_out is not None:
            self._unlock_out.off()
        self._pulse_until = None

    async def _run_timer(self) -> None:
        start = self._commanded_at
        assert start is not None
        marks = sorted({self.pulse_s, self.timeout_s} if self.motorised else {self.timeout_s})
        for mark in marks:
            # Relative to the command, not to when this task first runs.
            await self._clock.sleep(start + mark - self._clock.monotonic())
            self.poll(self._clock.monotonic())

    def close(self) -> None:
        """Stop any motor pulse and release the pins. The lock stays where it is mechanically (a
        holding solenoid falls back when its pin is released)."""
        self._timer.cancel()
        try:
            self._end_pulse()
        finally:
            self._lock_out.close()
            if self._unlock_out is not None:
                self._unlock_out.close()
            if self._feedback is not None:
                self._feedback.close()
