"""A digital fault input, e.g. a thermal switch: active means "stop now"."""
from __future__ import annotations

from gpiozero.pins import Factory

from drivers.gpio._pins import Pin, level_input, pin_level


class GpioFaultInput:
    """Implements hal.contracts.FaultInput.

    `active_high`: the level that means "fault". Wire it so a broken wire reads as the fault:
    a normally-closed thermal switch to GND with a pull-up (`pull_up=True`) reads low while
    cool and high when hot or disconnected, i.e. `active_high=True`. `pull_up=None` leaves the
    internal pull off (external resistor or optocoupler)."""

    def __init__(self, pin: Pin, active_high: bool = True, pin_factory: Factory | None = None,
                 *, pull_up: bool | None = None) -> None:
        self._in = level_input(pin, pull_up, pin_factory)
        self._active_level = bool(active_high)

    def active(self) -> bool:
        return pin_level(self._in) == self._active_level

    def close(self) -> None:
        self._in.close()
