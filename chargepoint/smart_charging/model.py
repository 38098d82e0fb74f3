"""Charging profiles as values: what the CSMS asked for, already parsed and typed. The vocabulary
is OCPP 1.6's (the de-facto one; other versions map onto it); nothing here knows about messages."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

DAY_S = 86400
WEEK_S = 7 * DAY_S
DEFAULT_NUMBER_PHASES = 3  # OCPP 1.6 §7.12/§7.14: assumed when a period does not say


class Purpose(str, enum.Enum):
    CHARGE_POINT_MAX = "ChargePointMaxProfile"
    TX_DEFAULT = "TxDefaultProfile"
    TX = "TxProfile"


class Kind(str, enum.Enum):
    ABSOLUTE = "Absolute"
    RECURRING = "Recurring"
    RELATIVE = "Relative"


class Recurrency(str, enum.Enum):
    DAILY = "Daily"
    WEEKLY = "Weekly"

    @property
    def period_s(self) -> int:
        return DAY_S if self is Recurrency.DAILY else WEEK_S


class RateUnit(str, enum.Enum):
    AMPERE = "A"  # per phase
    WATT = "W"  # total over all phases

    @property
    def setting_name(self) -> str:
        """The name ChargingScheduleAllowedChargingRateUnit uses for this unit."""
        return "Current" if self is RateUnit.AMPERE else "Power"


@dataclass(frozen=True)
class SchedulePeriod:
    start_s: int  # from the start of the schedule
    limit: float  # in the schedule's unit
    number_phases: int | None = None


@dataclass(frozen=True)
class Schedule:
    unit: RateUnit
    periods: tuple[SchedulePeriod, ...]
    duration_s: int | None = None
    start: datetime | None = None
    min_rate: float | None = None


@dataclass(frozen=True)
class ChargingProfile:
    id: int
    connector_id: int
    stack_level: int
    purpose: Purpose
    kind: Kind
    schedule: Schedule
    recurrency: Recurrency | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    transaction_id: int | None = None  # the CSMS's id, as sent
    # When the charge point installed the profile: the start of a charge-point-wide schedule that
    # gives none of its own.
    installed_at: datetime | None = None
    # The (local) transaction a TxProfile belongs to; it ends with that transaction.
    local_tx: int | None = None

    def valid_at(self, moment: datetime) -> bool:
        if self.valid_from is not None and moment < self.valid_from:
            return False
        return self.valid_to is None or moment < self.valid_to


@dataclass(frozen=True)
class EvseElectrics:
    """What the conversion between watts and amperes needs to know about an EVSE."""

    phases: int
    voltage_v: float
    max_current_a: float

    def watts(self, amps: float) -> float:
        return amps * self.voltage_v * self.phases

    def amps(self, watts: float) -> float:
        return watts / (self.voltage_v * self.phases)
