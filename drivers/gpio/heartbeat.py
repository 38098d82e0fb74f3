"""The heartbeat output: toggled once per control-loop cycle. An external watchdog relay (or a
retriggerable monostable) keeps the contactor supply only while the pin keeps toggling, so a
hung process drops the contactor in hardware."""
from __future__ import annotations

from gpiozero.pins import Factory

from drivers.gpio._pins import Pin, output


class GpioHeartbeat:
    """Implements hal.contracts.HeartbeatOutput. Starts low."""

    def __init__(self, pin: Pin, pin_factory: Factory | None = None) -> None:
        self._out = output(pin, True, pin_factory)
        self.toggles = 0

    def toggle(self) -> None:
        self._out.toggle()
        self.toggles += 1

    @property
    def level(self) -> bool:
        return bool(self._out.value)

    def close(self) -> None:
        """Stop toggling (low) and release the pin: the watchdog then drops the contactor."""
        try:
            self._out.off()
        finally:
            self._out.close()
