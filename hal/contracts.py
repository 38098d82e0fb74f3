"""Device contracts. Calls on the control path (contactor, pilot, sensing) are synchronous and
must return within a millisecond or so: the safety path never awaits. Slow buses (Modbus meters,
serial readers) are async."""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from hal.types import CpReading, IdToken, IndicatorPattern, MeterReading, PilotOutput, ProximityReading


@runtime_checkable
class Contactor(Protocol):
    """Main power relay with an optional mirror-contact feedback."""

    def set_closed(self, closed: bool) -> None:
        """Command the relay; must not block or await."""

    @property
    def commanded_closed(self) -> bool: ...

    def feedback_closed(self) -> bool | None:
        """State of the mirror contact, or None where the board has no feedback."""


@runtime_checkable
class ControlPilot(Protocol):
    """Generates the pilot signal and classifies what the EV does to it."""

    def set_pwm(self, duty_percent: float) -> None: ...

    def set_constant_high(self) -> None: ...

    def set_state_f(self) -> None: ...

    @property
    def output(self) -> PilotOutput: ...

    def read(self) -> CpReading: ...


@runtime_checkable
class ProximityPilot(Protocol):
    def read(self) -> ProximityReading: ...


@runtime_checkable
class ResidualCurrentMonitor(Protocol):
    def tripped(self) -> bool:
        """True while the monitor reports (or has latched) a residual-current fault."""

    def reset(self) -> None: ...

    async def self_test(self) -> bool:
        """Inject a test current; True when the monitor tripped and released as it should."""


@runtime_checkable
class SocketLock(Protocol):
    def set_locked(self, locked: bool) -> None: ...

    @property
    def commanded_locked(self) -> bool: ...

    def feedback_locked(self) -> bool | None: ...


@runtime_checkable
class IdTokenReader(Protocol):
    async def read(self) -> IdToken:
        """Wait for the next badge (debounced: a badge held on the reader is reported once)."""


@runtime_checkable
class EnergyMeter(Protocol):
    async def read(self) -> MeterReading:
        """One reading; raises hal.types.MeterError when the meter does not answer."""


@runtime_checkable
class Indicator(Protocol):
    def show(self, pattern: IndicatorPattern) -> None: ...


@runtime_checkable
class HeartbeatOutput(Protocol):
    """A pin toggled by every control-loop cycle: an external watchdog relay drops the
    contactor when it stops toggling."""

    def toggle(self) -> None: ...


@runtime_checkable
class FaultInput(Protocol):
    """A digital fault input, e.g. a thermal switch; active means "stop now"."""

    def active(self) -> bool: ...
