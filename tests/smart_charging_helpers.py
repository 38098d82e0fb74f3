"""Building charging profiles for the smart charging tests, in the OCPP JSON form a CSMS sends."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from chargepoint.smart_charging.model import ChargingProfile
from chargepoint.smart_charging.payload import profile_from_ocpp

UTC = timezone.utc


def at(text: str) -> datetime:
    """'2026-03-02 21:30' (UTC) as an aware datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def payload(profile_id: int, purpose: str, periods: list[tuple[int, float]] | list[dict[str, Any]], *,
            stack: int = 0, unit: str = "A", kind: str = "Absolute", start: str | None = "2026-01-01T00:00:00Z",
            recurrency: str | None = None, duration: int | None = None, valid_from: str | None = None,
            valid_to: str | None = None, transaction_id: int | None = None,
            min_rate: float | None = None) -> dict[str, Any]:
    schedule: dict[str, Any] = {
        "chargingRateUnit": unit,
        "chargingSchedulePeriod": [p if isinstance(p, dict) else {"startPeriod": p[0], "limit": p[1]}
                                   for p in periods],
    }
    if start is not None:
        schedule["startSchedule"] = start
    if duration is not None:
        schedule["duration"] = duration
    if min_rate is not None:
        schedule["minChargingRate"] = min_rate
    data: dict[str, Any] = {"chargingProfileId": profile_id, "stackLevel": stack,
                            "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
                            "chargingSchedule": schedule}
    for key, value in (("recurrencyKind", recurrency), ("validFrom", valid_from), ("validTo", valid_to),
                       ("transactionId", transaction_id)):
        if value is not None:
            data[key] = value
    return data


def profile(profile_id: int, purpose: str, periods: list[tuple[int, float]] | list[dict[str, Any]], *,
            connector: int = 0, local_tx: int | None = None, installed_at: datetime | None = None,
            **kw: Any) -> ChargingProfile:
    parsed = profile_from_ocpp(payload(profile_id, purpose, periods, **kw), connector)
    return replace(parsed, local_tx=local_tx, installed_at=installed_at)
