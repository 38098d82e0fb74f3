"""The OCPP 1.6 adapter's side of smart charging: profiles as the `ocpp` library hands them to
handlers (snake_case keys, Decimal limits), and the errata's PropertyConstraintViolation cases."""
from __future__ import annotations

from decimal import Decimal

import pytest
from ocpp.charge_point import camel_to_snake_case
from ocpp.exceptions import PropertyConstraintViolationError

from chargepoint.ocpp.v16.handlers_smart_charging import enum_violation, profile_from_library
from chargepoint.smart_charging.model import Kind, Purpose, RateUnit, Recurrency
from smart_charging_helpers import at, payload


def test_profile_from_the_library_form() -> None:
    wire = payload(3, "TxDefaultProfile", [{"startPeriod": 0, "limit": 11000.5, "numberPhases": 1}],
                   unit="W", kind="Recurring", recurrency="Weekly", duration=3600, min_rate=6.5,
                   valid_to="2027-01-01T00:00:00Z")
    wire["chargingSchedule"]["chargingSchedulePeriod"][0]["limit"] = Decimal("11000.5")
    p = profile_from_library(camel_to_snake_case(wire), 2)
    assert (p.id, p.connector_id, p.purpose, p.kind, p.recurrency) == (3, 2, Purpose.TX_DEFAULT, Kind.RECURRING,
                                                                       Recurrency.WEEKLY)
    assert p.schedule.unit is RateUnit.WATT and p.schedule.duration_s == 3600 and p.schedule.min_rate == 6.5
    assert p.schedule.start == at("2026-01-01 00:00") and p.valid_to == at("2027-01-01 00:00")
    [period] = p.schedule.periods
    assert (period.start_s, period.limit, period.number_phases) == (0, 11000.5, 1)
    assert type(period.limit) is float


def test_unreadable_profile_is_a_property_constraint_violation() -> None:
    wire = payload(3, "TxDefaultProfile", [(0, 10)], valid_from="next tuesday")
    with pytest.raises(PropertyConstraintViolationError):
        profile_from_library(camel_to_snake_case(wire), 1)


@pytest.mark.parametrize(("action", "frame_payload"), [
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "kW"}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": payload(1, "TxDefaultProfile", [(0, 1)],
                                                                            unit="kW")}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": payload(1, "Default", [(0, 1)])}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": payload(1, "TxProfile", [(0, 1)],
                                                                            kind="Once")}),
    ("RemoteStartTransaction", {"idTag": "T", "chargingProfile": payload(1, "TxProfile", [(0, 1)],
                                                                          kind="Recurring", recurrency="Monthly")}),
])
def test_bad_enumeration_values_are_named(action: str, frame_payload: dict) -> None:
    assert enum_violation(action, frame_payload) is not None


@pytest.mark.parametrize(("action", "frame_payload"), [
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 60}),
    ("GetCompositeSchedule", {"connectorId": 1, "duration": 60, "chargingRateUnit": "W"}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": payload(1, "TxProfile", [(0, 1)])}),
    ("RemoteStartTransaction", {"idTag": "T"}),
    ("ChangeConfiguration", {"key": "chargingRateUnit", "value": "kW"}),
    ("SetChargingProfile", {"connectorId": 1, "csChargingProfiles": {"chargingProfilePurpose": 5}}),  # a type error
    ("SetChargingProfile", ["not", "an", "object"]),
])
def test_valid_or_unrelated_payloads_pass(action: str, frame_payload: object) -> None:
    assert enum_violation(action, frame_payload) is None
