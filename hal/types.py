"""Value types shared by the core and the drivers. Units are part of every name."""
from __future__ import annotations

import enum
from dataclasses import dataclass, field


class CpState(str, enum.Enum):
    """IEC 61851-1 control-pilot states as seen at the EVSE."""

    A = "A"  # no EV (+12 V)
    B = "B"  # EV connected, not ready (+9 V)
    C = "C"  # EV ready, no ventilation (+6 V)
    D = "D"  # EV ready, ventilation required (+3 V)
    E = "E"  # CP shorted to PE / EVSE without power (0 V)
    F = "F"  # EVSE drives -12 V (not available / fault)

    @property
    def plugged(self) -> bool:
        return self in (CpState.B, CpState.C, CpState.D)

    @property
    def wants_energy(self) -> bool:
        return self in (CpState.C, CpState.D)


@dataclass(frozen=True)
class CpReading:
    """One classified control-pilot sample. `diode_fault` comes from the low half of the PWM."""

    state: CpState
    diode_fault: bool = False


class PilotMode(str, enum.Enum):
    STATE_F = "state_f"  # constant -12 V
    CONSTANT_HIGH = "constant_high"  # constant +12 V (x1: not ready to supply)
    PWM = "pwm"  # 1 kHz PWM (x2: ready to supply)


@dataclass(frozen=True)
class PilotOutput:
    mode: PilotMode
    duty_percent: float = 100.0

    @property
    def pwm_on(self) -> bool:
        return self.mode is PilotMode.PWM


@dataclass(frozen=True)
class ProximityReading:
    """Cable ampacity coded by the PP resistor. None with no cable; `error` for out-of-range."""

    ampacity_a: int | None
    error: bool = False


@dataclass(frozen=True)
class MeterReading:
    """One reading of an energy meter; per-phase tuples are ordered L1, L2, L3."""

    energy_import_wh: float
    power_w: float
    voltage_v: tuple[float, ...] = ()
    current_a: tuple[float, ...] = ()


class MeterError(Exception):
    """A meter did not answer, or answered something unusable."""


@dataclass(frozen=True)
class IdToken:
    """A badge or other identifier presented at the box."""

    id_tag: str
    source: str = "rfid"
    evse_id: int | None = None  # set by readers that belong to one EVSE; None for a box-wide reader


class FaultKind(str, enum.Enum):
    """Hardware faults the core knows how to react to."""

    RCM = "rcm"  # residual current tripped
    RCM_SELF_TEST = "rcm-self-test"  # the monitor failed its self-test: permanent until cleared
    DIODE = "diode"  # EV diode missing / shorted
    WELD = "weld"  # contactor feedback closed while commanded open
    CONTACTOR = "contactor"  # contactor feedback open while commanded closed
    METER_LOSS = "meter-loss"
    PP = "pp"  # proximity pilot out of range / broken
    STATE_E = "state-e"  # CP shorted to PE
    OVERCURRENT = "overcurrent"
    CONTROL_LOOP = "control-loop"
    OVER_TEMPERATURE = "over-temperature"
    MCU_LINK = "mcu-link"  # the safety co-processor is silent or does not follow Borne
    LOCK = "lock"  # the socket lock did not reach the locked position


class IndicatorPattern(str, enum.Enum):
    OFF = "off"
    BOOTING = "booting"
    AVAILABLE = "available"
    PREPARING = "preparing"
    CHARGING = "charging"
    SUSPENDED = "suspended"
    FINISHING = "finishing"
    UNAVAILABLE = "unavailable"
    FAULTED = "faulted"


@dataclass
class BoardInfo:
    """What the board says about itself (for diagnostics and status)."""

    kind: str
    details: dict[str, str] = field(default_factory=dict)
