"""Main contactor on a GPIO output, with an optional mirror-contact feedback input.

The core (EvseController) already turns a feedback mismatch longer than 250 ms into a latched
WELD or CONTACTOR fault from `feedback_closed()` alone. This driver adds the timing for
diagnostics: when the relay was last commanded, and since when the feedback disagrees."""
from __future__ import annotations

import enum
from dataclasses import dataclass

from gpiozero.pins import Factory

from drivers.gpio._pins import Pin, level_input, on_edges, output, pin_level
from hal.clock import Clock, SystemClock


class MismatchKind(str, enum.Enum):
    WELDED = "welded"  # feedback closed while commanded open
    FAILED_TO_CLOSE = "failed-to-close"  # feedback open while commanded closed


@dataclass(frozen=True)
class FeedbackMismatch:
    kind: MismatchKind
    since: float  # clock.monotonic() when the disagreement began
    duration_s: float  # how long it has lasted at the time asked


class GpioContactor:
    """Implements hal.contracts.Contactor.

    `active_high`: the output level that closes the relay (False for active-low driver boards).
    `feedback_closed_level`: the input level read while the *main* contacts are closed. A mirror
    (NC auxiliary) contact is closed while the main contacts are open, so with the usual wiring
    (mirror contact pulling the input high) the input is low when the contactor is closed: the
    default False. `feedback_pull_up`: the internal pull (None = external resistor/optocoupler).

    The output starts open. `set_closed` only writes a GPIO: it never blocks."""

    def __init__(self, pin: Pin, active_high: bool = True, feedback_pin: Pin | None = None,
                 feedback_closed_level: bool = False, pin_factory: Factory | None = None,
                 clock: Clock | None = None, *, feedback_pull_up: bool | None = None) -> None:
        self._clock = clock or SystemClock()
        self._out = output(pin, active_high, pin_factory)
        self._closed = False
        self._closed_level = bool(feedback_closed_level)
        self.last_commanded_at: float | None = None  # clock.monotonic() of the last set_closed
        self.last_feedback_change_at: float | None = None  # of the last edge on the feedback input
        self._feedback = None
        if feedback_pin is not None:
            try:
                self._feedback = level_input(feedback_pin, feedback_pull_up, pin_factory)
            except Exception:
                self._out.close()
                raise
            on_edges(self._feedback, self._feedback_edge)

    # ---- hal.contracts.Contactor -----------------------------------------------------------

    def set_closed(self, closed: bool) -> None:
        closed = bool(closed)
        if closed:
            self._out.on()
        else:
            self._out.off()
        if closed != self._closed or self.last_commanded_at is None:
            self.last_commanded_at = self._clock.monotonic()
        self._closed = closed

    @property
    def commanded_closed(self) -> bool:
        return self._closed

    def feedback_closed(self) -> bool | None:
        if self._feedback is None:
            return None
        return pin_level(self._feedback) == self._closed_level

    # ---- diagnostics -----------------------------------------------------------------------

    def mismatch_since(self, now: float) -> float | None:
        """clock.monotonic() at which the feedback started to disagree with the command, or None
        when it agrees (or there is no feedback). A mismatch begins at the later of the last
        command and the last feedback edge: after a command the feedback had to follow; without
        a command, the feedback itself moved."""
        feedback = self.feedback_closed()
        if feedback is None or feedback == self._closed:
            return None
        marks = [t for t in (self.last_commanded_at, self.last_feedback_change_at) if t is not None]
        return min(max(marks), now) if marks else now

    def mismatch(self, now: float) -> FeedbackMismatch | None:
        """The current disagreement with its kind and duration, or None."""
        since = self.mismatch_since(now)
        if since is None:
            return None
        kind = MismatchKind.FAILED_TO_CLOSE if self._closed else MismatchKind.WELDED
        return FeedbackMismatch(kind, since, max(0.0, now - since))

    def _feedback_edge(self) -> None:
        self.last_feedback_change_at = self._clock.monotonic()

    def close(self) -> None:
        """Open the relay and release the pins."""
        try:
            self._out.off()
            self._closed = False
        finally:
            self._out.close()
            if self._feedback is not None:
                self._feedback.close()
