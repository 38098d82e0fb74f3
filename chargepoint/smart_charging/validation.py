"""What makes a charging profile unacceptable on its own, before the charge point's state is
considered: the OCPP 1.6 rules (§3.13, §5.16, §7.8–7.14 with the errata) and the limits Borne
advertises in its Smart Charging configuration keys. Each answer names the reason, for the log."""
from __future__ import annotations

from dataclasses import dataclass

from chargepoint.smart_charging.model import ChargingProfile, Kind, Purpose, RateUnit


@dataclass(frozen=True)
class Capabilities:
    """The ChargeProfileMaxStackLevel, ChargingScheduleMaxPeriods,
    ChargingScheduleAllowedChargingRateUnit and MaxChargingProfilesInstalled values."""

    max_stack_level: int
    max_periods: int
    allowed_units: frozenset[RateUnit]
    max_installed: int


def reject_reason(profile: ChargingProfile, caps: Capabilities) -> str | None:
    """Why the profile must be Rejected, or None when it is acceptable in itself."""
    purpose, schedule = profile.purpose, profile.schedule
    if purpose is Purpose.CHARGE_POINT_MAX and profile.connector_id != 0:
        return "a ChargePointMaxProfile is set on connector 0 only"
    if purpose is Purpose.CHARGE_POINT_MAX and profile.kind is Kind.RELATIVE:
        return "a ChargePointMaxProfile cannot be relative: the charge point has no transaction to start from"
    if purpose is Purpose.TX and profile.connector_id == 0:
        return "a TxProfile is set on a connector (> 0)"
    if profile.transaction_id is not None and purpose is not Purpose.TX:
        return "only a TxProfile names a transaction"
    if not 0 <= profile.stack_level <= caps.max_stack_level:
        return f"stack level {profile.stack_level} is outside 0..{caps.max_stack_level}"
    if schedule.unit not in caps.allowed_units:
        return f"charging rate unit {schedule.unit.value} is not supported"
    if not schedule.periods:
        return "the schedule has no period"
    if len(schedule.periods) > caps.max_periods:
        return f"{len(schedule.periods)} periods exceed ChargingScheduleMaxPeriods ({caps.max_periods})"
    if schedule.periods[0].start_s != 0:
        return "the first period must start at 0"
    starts = [p.start_s for p in schedule.periods]
    if any(b <= a for a, b in zip(starts, starts[1:])):
        return "periods must start in increasing order"
    for period in schedule.periods:
        if period.limit < 0:
            return f"negative limit {period.limit}"
        if period.number_phases is not None and period.number_phases not in (1, 2, 3):
            return f"numberPhases {period.number_phases} is not 1, 2 or 3"
    if schedule.duration_s is not None and schedule.duration_s < 0:
        return "negative duration"
    if schedule.min_rate is not None and schedule.min_rate < 0:
        return "negative minChargingRate"
    if profile.kind is Kind.RECURRING and profile.recurrency is None:
        return "a recurring profile needs a recurrencyKind"
    if profile.kind is not Kind.RECURRING and profile.recurrency is not None:
        return "recurrencyKind is only for recurring profiles (errata 3.56)"
    if profile.valid_from is not None and profile.valid_to is not None and profile.valid_to <= profile.valid_from:
        return "validTo is not after validFrom"
    return None
