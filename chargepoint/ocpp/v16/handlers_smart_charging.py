"""OCPP 1.6 Smart Charging operations: SetChargingProfile, ClearChargingProfile and
GetCompositeSchedule, plus the translation of a profile between the library's form and the core's.

The library hands nested objects over with snake_case keys; they are turned back into the OCPP
JSON form the core parses. Errata 3.24, 3.38 and 3.39 want PropertyConstraintViolation for a bad
connectorId or enumeration value where the library would answer otherwise: `enum_violation` is
checked before the library sees the frame."""
from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import snake_to_camel_case
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.routing import on
from ocpp.v16 import call_result
from ocpp.v16.enums import Action

from chargepoint.smart_charging import (
    ChargingProfile,
    ProfileFormatError,
    Purpose,
    RateUnit,
    profile_from_ocpp,
    schedule_to_ocpp,
)
from chargepoint.timeutil import iso_utc

if TYPE_CHECKING:
    from chargepoint.ocpp.v16.link import V16Link

_PROFILE_ENUMS = {
    "chargingProfilePurpose": ("ChargePointMaxProfile", "TxDefaultProfile", "TxProfile"),
    "chargingProfileKind": ("Absolute", "Recurring", "Relative"),
    "recurrencyKind": ("Daily", "Weekly"),
}
_RATE_UNITS = ("A", "W")


def profile_from_library(data: Mapping[str, Any], connector_id: int) -> ChargingProfile:
    """A profile as the library delivers it (snake_case keys) to the core's model."""
    try:
        return profile_from_ocpp(snake_to_camel_case(dict(data)), connector_id)
    except ProfileFormatError as exc:
        raise PropertyConstraintViolationError(details={"cause": str(exc)}) from exc


def enum_violation(action: str, payload: Any) -> str | None:
    """The first enumeration field of a charging profile (or of GetCompositeSchedule) holding a
    string that is not one of its values, described; None when there is none."""
    if not isinstance(payload, dict):
        return None
    if action == "GetCompositeSchedule":
        return _bad("chargingRateUnit", payload, _RATE_UNITS)
    profile = payload.get({"SetChargingProfile": "csChargingProfiles",
                           "RemoteStartTransaction": "chargingProfile"}.get(action, ""))
    if not isinstance(profile, dict):
        return None
    for name, allowed in _PROFILE_ENUMS.items():
        cause = _bad(name, profile, allowed)
        if cause is not None:
            return cause
    schedule = profile.get("chargingSchedule")
    return _bad("chargingRateUnit", schedule, _RATE_UNITS) if isinstance(schedule, dict) else None


def _bad(name: str, holder: dict[str, Any], allowed: tuple[str, ...]) -> str | None:
    value = holder.get(name)
    if isinstance(value, str) and value not in allowed:
        return f"{name} {value!r} is not one of {', '.join(allowed)}"
    return None


class SmartChargingOperations:
    """Mixed into the 1.6 session; `link` gives access to the station."""

    link: V16Link

    @on(Action.set_charging_profile)
    def on_set_charging_profile(self, connector_id: int, cs_charging_profiles: dict[str, Any],
                                **_: Any) -> call_result.SetChargingProfile:
        station = self.link.station
        if not station.knows_connector(connector_id):
            raise PropertyConstraintViolationError(details={"cause": f"connector {connector_id} does not exist"})
        accepted = station.set_charging_profile(profile_from_library(cs_charging_profiles, connector_id))
        return call_result.SetChargingProfile(status="Accepted" if accepted else "Rejected")

    @on(Action.clear_charging_profile)
    def on_clear_charging_profile(self, id: int | None = None, connector_id: int | None = None,
                                  charging_profile_purpose: str | None = None, stack_level: int | None = None,
                                  **_: Any) -> call_result.ClearChargingProfile:
        purpose = Purpose(charging_profile_purpose) if charging_profile_purpose is not None else None
        cleared = self.link.station.clear_charging_profiles(id, connector_id, purpose, stack_level)
        return call_result.ClearChargingProfile(status="Accepted" if cleared else "Unknown")

    @on(Action.get_composite_schedule)
    def on_get_composite_schedule(self, connector_id: int, duration: int, charging_rate_unit: str | None = None,
                                  **_: Any) -> call_result.GetCompositeSchedule:
        unit = RateUnit(charging_rate_unit) if charging_rate_unit is not None else None
        composite = self.link.station.composite_schedule(connector_id, duration, unit)
        if composite is None:
            return call_result.GetCompositeSchedule(status="Rejected")
        return call_result.GetCompositeSchedule(
            status="Accepted", connector_id=connector_id, schedule_start=iso_utc(composite.start),
            charging_schedule=schedule_to_ocpp(composite.schedule),
        )
