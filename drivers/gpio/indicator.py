"""Status LED(s) on GPIO: one colour and steady/blinking rhythm per IndicatorPattern.

| Pattern     | RGB LED (red, green, blue)      | red + green LED only              |
|-------------|---------------------------------|-----------------------------------|
| OFF         | off                             | off                               |
| BOOTING     | white, blink 0.25 s / 0.25 s    | yellow (R+G), blink 0.25 / 0.25 s |
| AVAILABLE   | green, steady                   | green, steady                     |
| PREPARING   | blue, steady                    | green, flash 0.2 s / 0.8 s        |
| CHARGING    | blue, blink 1.0 s / 1.0 s       | green, blink 1.0 s / 1.0 s        |
| SUSPENDED   | blue, flash 0.2 s / 1.8 s       | yellow (R+G), steady              |
| FINISHING   | cyan (G+B), steady              | green, flash 0.2 s / 0.2 s        |
| UNAVAILABLE | yellow (R+G), steady            | red, steady                       |
| FAULTED     | red, blink 0.25 s / 0.25 s      | red, blink 0.25 s / 0.25 s        |

Blinking is computed from the injected clock (`poll(now)`: the phase is (now - start) modulo
the period), so every LED of a colour switches in the same call and stays in phase. `show()`
applies the "on" phase at once and, when an asyncio loop is running, starts a small task that
calls `poll` at each edge. Not safety relevant: a stalled loop only freezes the LED."""
from __future__ import annotations

from dataclasses import dataclass

from gpiozero import LED
from gpiozero.pins import Factory

from drivers.gpio._pins import Pin, TaskSlot
from hal.clock import Clock, SystemClock
from hal.types import IndicatorPattern

Colour = tuple[bool, bool, bool]  # red, green, blue

OFF: Colour = (False, False, False)
RED: Colour = (True, False, False)
GREEN: Colour = (False, True, False)
BLUE: Colour = (False, False, True)
YELLOW: Colour = (True, True, False)
CYAN: Colour = (False, True, True)
WHITE: Colour = (True, True, True)


@dataclass(frozen=True)
class LedPattern:
    colour: Colour
    on_s: float | None = None  # None: steady
    off_s: float = 0.0

    @property
    def blinking(self) -> bool:
        return self.on_s is not None and self.colour != OFF

    def colour_at(self, elapsed_s: float) -> Colour:
        if not self.blinking:
            return self.colour
        assert self.on_s is not None
        return self.colour if elapsed_s % (self.on_s + self.off_s) < self.on_s else OFF

    def next_edge(self, elapsed_s: float) -> float:
        """Seconds from `elapsed_s` to the next switch (blinking patterns only)."""
        assert self.on_s is not None
        period = self.on_s + self.off_s
        phase = elapsed_s % period
        return (self.on_s - phase) if phase < self.on_s else (period - phase)


RGB_PATTERNS: dict[IndicatorPattern, LedPattern] = {
    IndicatorPattern.OFF: LedPattern(OFF),
    IndicatorPattern.BOOTING: LedPattern(WHITE, 0.25, 0.25),
    IndicatorPattern.AVAILABLE: LedPattern(GREEN),
    IndicatorPattern.PREPARING: LedPattern(BLUE),
    IndicatorPattern.CHARGING: LedPattern(BLUE, 1.0, 1.0),
    IndicatorPattern.SUSPENDED: LedPattern(BLUE, 0.2, 1.8),
    IndicatorPattern.FINISHING: LedPattern(CYAN),
    IndicatorPattern.UNAVAILABLE: LedPattern(YELLOW),
    IndicatorPattern.FAULTED: LedPattern(RED, 0.25, 0.25),
}

TWO_COLOUR_PATTERNS: dict[IndicatorPattern, LedPattern] = {
    IndicatorPattern.OFF: LedPattern(OFF),
    IndicatorPattern.BOOTING: LedPattern(YELLOW, 0.25, 0.25),
    IndicatorPattern.AVAILABLE: LedPattern(GREEN),
    IndicatorPattern.PREPARING: LedPattern(GREEN, 0.2, 0.8),
    IndicatorPattern.CHARGING: LedPattern(GREEN, 1.0, 1.0),
    IndicatorPattern.SUSPENDED: LedPattern(YELLOW),
    IndicatorPattern.FINISHING: LedPattern(GREEN, 0.2, 0.2),
    IndicatorPattern.UNAVAILABLE: LedPattern(RED),
    IndicatorPattern.FAULTED: LedPattern(RED, 0.25, 0.25),
}


class GpioIndicator:
    """Implements hal.contracts.Indicator with a red and a green LED and optionally a blue one
    (separate LEDs or the three dies of a common RGB LED; `active_high=False` for common-anode)."""

    def __init__(self, red: Pin, green: Pin, blue: Pin | None = None, *, active_high: bool = True,
                 clock: Clock | None = None, pin_factory: Factory | None = None,
                 patterns: dict[IndicatorPattern, LedPattern] | None = None) -> None:
        self._clock = clock or SystemClock()
        leds: list[LED] = []
        try:
            for pin in (red, green, blue):
                if pin is not None:
                    leds.append(LED(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory))
        except Exception:
            for led in leds:
                led.close()
            raise
        self._leds = leds
        self._has_blue = blue is not None
        self.patterns = dict(patterns) if patterns is not None else dict(
            RGB_PATTERNS if self._has_blue else TWO_COLOUR_PATTERNS)
        self.pattern = IndicatorPattern.OFF
        self._spec = self.patterns[IndicatorPattern.OFF]
        self._since = self._clock.monotonic()
        self._task = TaskSlot("indicator")

    def show(self, pattern: IndicatorPattern) -> None:
        if pattern == self.pattern and self._spec is self.patterns[pattern]:
            return
        self.pattern = pattern
        self._spec = self.patterns[pattern]
        self._since = self._clock.monotonic()
        self._apply(self._spec.colour_at(0.0))
        if self._spec.blinking:
            self._task.start(self._blink())
        else:
            self._task.cancel()

    def poll(self, now: float) -> None:
        """Bring the LEDs to the phase of the current pattern at `now`."""
        self._apply(self._spec.colour_at(max(0.0, now - self._since)))

    @property
    def colour(self) -> Colour:
        """What the LEDs show right now (blue False without a blue LED)."""
        values = [bool(led.value) for led in self._leds]
        return (values[0], values[1], values[2] if self._has_blue else False)

    def _apply(self, colour: Colour) -> None:
        for led, on in zip(self._leds, colour):
            if bool(led.value) != on:
                led.value = on

    async def _blink(self) -> None:
        spec = self._spec
        while True:
            now = self._clock.monotonic()
            self.poll(now)
            await self._clock.sleep(spec.next_edge(max(0.0, now - self._since)))

    def close(self) -> None:
        self._task.cancel()
        for led in self._leds:
            led.off()
            led.close()
