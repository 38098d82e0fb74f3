"""Charging profiles to and from their OCPP 1.6 JSON form (camelCase, as on the wire). The same
form is what the store keeps, so a profile reads back exactly as the CSMS sent it."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from chargepoint.smart_charging.model import (
    ChargingProfile,
    Kind,
    Purpose,
    RateUnit,
    Recurrency,
    Schedule,
    SchedulePeriod,
)
from chargepoint.timeutil import iso_utc, parse_iso


class ProfileFormatError(ValueError):
    """The payload is not a charging profile (missing field, wrong type, unknown enum value)."""


def profile_from_ocpp(data: Mapping[str, Any], connector_id: int) -> ChargingProfile:
    try:
        schedule = _schedule(data["chargingSchedule"])
        recurrency = data.get("recurrencyKind")
        return ChargingProfile(
            id=_int(data["chargingProfileId"]),
            connector_id=connector_id,
            stack_level=_int(data["stackLevel"]),
            purpose=Purpose(data["chargingProfilePurpose"]),
            kind=Kind(data["chargingProfileKind"]),
            schedule=schedule,
            recurrency=Recurrency(recurrency) if recurrency is not None else None,
            valid_from=_time(data.get("validFrom")),
            valid_to=_time(data.get("validTo")),
            transaction_id=_int(data["transactionId"]) if data.get("transactionId") is not None else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProfileFormatError(f"not a charging profile: {type(exc).__name__} {exc}") from exc


def _schedule(data: Mapping[str, Any]) -> Schedule:
    periods = tuple(
        SchedulePeriod(
            start_s=_int(p["startPeriod"]),
            limit=float(p["limit"]),
            number_phases=_int(p["numberPhases"]) if p.get("numberPhases") is not None else None,
        )
        for p in data["chargingSchedulePeriod"]
    )
    return Schedule(
        unit=RateUnit(data["chargingRateUnit"]),
        periods=periods,
        duration_s=_int(data["duration"]) if data.get("duration") is not None else None,
        start=_time(data.get("startSchedule")),
        min_rate=float(data["minChargingRate"]) if data.get("minChargingRate") is not None else None,
    )


def _int(value: Any) -> int:
    if isinstance(value, bool) or int(value) != value:
        raise ValueError(f"{value!r} is not an integer")
    return int(value)


def _time(value: Any) -> Any:
    return parse_iso(value) if value is not None else None


def profile_to_ocpp(profile: ChargingProfile) -> dict[str, Any]:
    out: dict[str, Any] = {
        "chargingProfileId": profile.id,
        "stackLevel": profile.stack_level,
        "chargingProfilePurpose": profile.purpose.value,
        "chargingProfileKind": profile.kind.value,
        "chargingSchedule": schedule_to_ocpp(profile.schedule),
    }
    if profile.transaction_id is not None:
        out["transactionId"] = profile.transaction_id
    if profile.recurrency is not None:
        out["recurrencyKind"] = profile.recurrency.value
    if profile.valid_from is not None:
        out["validFrom"] = iso_utc(profile.valid_from)
    if profile.valid_to is not None:
        out["validTo"] = iso_utc(profile.valid_to)
    return out


def schedule_to_ocpp(schedule: Schedule) -> dict[str, Any]:
    out: dict[str, Any] = {
        "chargingRateUnit": schedule.unit.value,
        "chargingSchedulePeriod": [_period(p) for p in schedule.periods],
    }
    if schedule.duration_s is not None:
        out["duration"] = schedule.duration_s
    if schedule.start is not None:
        out["startSchedule"] = iso_utc(schedule.start)
    if schedule.min_rate is not None:
        out["minChargingRate"] = schedule.min_rate
    return out


def _period(period: SchedulePeriod) -> dict[str, Any]:
    out: dict[str, Any] = {"startPeriod": period.start_s, "limit": period.limit}
    if period.number_phases is not None:
        out["numberPhases"] = period.number_phases
    return out
