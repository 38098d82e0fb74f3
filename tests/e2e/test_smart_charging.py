"""Smart Charging against the test CSMS over a real WebSocket, with the controller process on the
simulated board: profiles change the current the pilot offers, GetCompositeSchedule reports it,
ClearChargingProfile restores the maximum, and profiles survive a restart.

The controller runs with a scaled clock (its wall clock runs ahead of the test's), so schedules
here start in the distant past or relative to the transaction."""
from __future__ import annotations

import json
from typing import Any

import pytest
from ocpp.exceptions import PropertyConstraintViolationError
from ocpp.v16 import call

from csms import assert_utc_z
from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(90)

MAX_A = 32.0  # the e2e EVSE's max_current_a


def profile(profile_id: int, purpose: str, limit: float, *, stack: int = 0, unit: str = "A",
            transaction_id: int | None = None, kind: str = "Absolute") -> dict[str, Any]:
    schedule: dict[str, Any] = {"chargingRateUnit": unit,
                                "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
    if kind == "Absolute":
        schedule["startSchedule"] = "2020-01-01T00:00:00Z"
    data: dict[str, Any] = {"chargingProfileId": profile_id, "stackLevel": stack,
                            "chargingProfilePurpose": purpose, "chargingProfileKind": kind,
                            "chargingSchedule": schedule}
    if transaction_id is not None:
        data["transactionId"] = transaction_id
    return data


async def set_profile(e2e: E2E, connector_id: int, data: dict[str, Any]) -> str:
    result = await e2e.csms.call(call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=data),
                                 timeout=WAIT)
    return result.status


async def offered(e2e: E2E, amps: float) -> dict[str, Any]:
    """Wait until the pilot offers `amps` (the sim decodes the PWM duty)."""
    return await e2e.wait_evse(lambda s: s["offered_current_a"] == pytest.approx(amps, abs=0.05),
                               what=f"the pilot to offer {amps} A")


async def composite(e2e: E2E, connector_id: int, duration: int, unit: str | None = None) -> Any:
    return await e2e.csms.call(call.GetCompositeSchedule(connector_id=connector_id, duration=duration,
                                                         charging_rate_unit=unit), timeout=WAIT)


async def test_profiles_drive_the_offered_current(ready: E2E) -> None:
    e2e = ready
    assert await set_profile(e2e, 0, profile(1, "TxDefaultProfile", 10)) == "Accepted"
    tx_id, _ = await e2e.start_transaction()
    status = await offered(e2e, 10)
    assert status["pwm_duty_percent"] == pytest.approx(10 / 0.6, abs=0.1)

    # A TxProfile for the running transaction overrules the default.
    assert await set_profile(e2e, 1, profile(2, "TxProfile", 16, transaction_id=tx_id + 100)) == "Rejected"
    assert await set_profile(e2e, 1, profile(2, "TxProfile", 16, transaction_id=tx_id)) == "Accepted"
    await offered(e2e, 16)

    result = await composite(e2e, 1, 3600)
    assert result.status == "Accepted" and result.connector_id == 1
    assert_utc_z(result.schedule_start)
    # (The library hands the answer over with snake_case keys.)
    assert result.charging_schedule == {
        "duration": 3600, "charging_rate_unit": "A",
        "charging_schedule_period": [{"start_period": 0, "limit": 16.0, "number_phases": 3}]}
    watts = await composite(e2e, 1, 600, "W")
    assert watts.charging_schedule["charging_schedule_period"][0]["limit"] == 16 * 230 * 3
    assert (await composite(e2e, 2, 600)).status == "Rejected"

    # Clearing the TxProfile falls back to the default; clearing everything restores the maximum.
    cleared = await e2e.csms.call(call.ClearChargingProfile(charging_profile_purpose="TxProfile"), timeout=WAIT)
    assert cleared.status == "Accepted"
    await offered(e2e, 10)
    assert (await e2e.csms.call(call.ClearChargingProfile(), timeout=WAIT)).status == "Accepted"
    await offered(e2e, MAX_A)
    assert (await e2e.csms.call(call.ClearChargingProfile(id=1), timeout=WAIT)).status == "Unknown"


async def test_a_limit_below_six_amperes_pauses_the_ev(ready: E2E) -> None:
    e2e = ready
    tx_id, _ = await e2e.start_transaction()
    mark = e2e.csms.mark()
    assert await set_profile(e2e, 1, profile(3, "TxProfile", 3, transaction_id=tx_id)) == "Accepted"
    status = await e2e.wait_evse(lambda s: s["pwm_duty_percent"] == 100.0, what="the PWM to stop")
    assert status["offered_current_a"] == 0
    await e2e.wait_status(1, "SuspendedEVSE", since=mark)
    result = await composite(e2e, 1, 60)
    assert result.charging_schedule["charging_schedule_period"][0]["limit"] == 0


async def test_tx_profile_ends_with_its_transaction(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, _ = await e2e.start_transaction()
    assert await set_profile(e2e, 1, profile(4, "TxProfile", 8, kind="Relative")) == "Accepted"
    await offered(e2e, 8)
    mark = csms.mark()
    await csms.call(call.RemoteStopTransaction(transaction_id=tx_id), timeout=WAIT)
    await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert (await csms.call(call.ClearChargingProfile(id=4), timeout=WAIT)).status == "Unknown"


async def test_remote_start_with_a_charging_profile(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    wrong = profile(5, "TxDefaultProfile", 12)
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1, charging_profile=wrong),
                             timeout=WAIT)
    assert result.status == "Rejected"
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1,
                                                         charging_profile=profile(5, "TxProfile", 12, kind="Relative")),
                             timeout=WAIT)
    assert result.status == "Accepted"
    await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_status(1, "Charging", since=mark)
    await offered(e2e, 12)


async def test_profiles_survive_a_controller_restart(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await set_profile(e2e, 1, profile(6, "TxDefaultProfile", 8, unit="W")) == "Accepted"
    assert await set_profile(e2e, 0, profile(7, "TxDefaultProfile", 11040, unit="W")) == "Accepted"
    await e2e.cp.stop()
    e2e.cp.proc = None
    await csms.wait_disconnected(timeout=WAIT)
    mark = csms.mark()
    await e2e.cp.start()
    await e2e.unless_exited(csms.wait_for("BootNotification", timeout=WAIT, since=mark), "BootNotification")
    await e2e.wait_status(1, "Available", since=mark)
    # Profile 6 (8 W on connector 1: a pause) wins a tie with profile 7 on connector 0 (16 A).
    assert (await composite(e2e, 1, 60)).charging_schedule["charging_schedule_period"][0]["limit"] == 0
    assert (await csms.call(call.ClearChargingProfile(id=6), timeout=WAIT)).status == "Accepted"
    await e2e.start_transaction()
    await offered(e2e, 16)


async def test_smart_charging_configuration_keys(ready: E2E) -> None:
    keys = ["SupportedFeatureProfiles", "ChargeProfileMaxStackLevel", "ChargingScheduleAllowedChargingRateUnit",
            "ChargingScheduleMaxPeriods", "MaxChargingProfilesInstalled"]
    result = await ready.csms.call(call.GetConfiguration(key=keys), timeout=WAIT)
    entries = {k["key"]: k for k in result.configuration_key}
    assert "SmartCharging" in entries["SupportedFeatureProfiles"]["value"].split(",")
    assert entries["ChargingScheduleAllowedChargingRateUnit"]["value"] == "Current,Power"
    for key in keys:
        assert entries[key]["readonly"] is True
    stack = int(entries["ChargeProfileMaxStackLevel"]["value"])
    assert await set_profile(ready, 1, profile(8, "TxDefaultProfile", 10, stack=stack)) == "Accepted"
    assert await set_profile(ready, 1, profile(9, "TxDefaultProfile", 10, stack=stack + 1)) == "Rejected"


async def test_bad_connector_or_unit_is_a_property_constraint_violation(ready: E2E) -> None:
    csms = ready.csms
    with pytest.raises(PropertyConstraintViolationError):
        await set_profile(ready, 5, profile(10, "TxDefaultProfile", 10))
    frame = json.dumps([2, "bad-unit", "GetCompositeSchedule",
                        {"connectorId": 1, "duration": 60, "chargingRateUnit": "kW"}])
    reply = await csms.send_raw(frame)
    assert reply[:3] == [4, "bad-unit", "PropertyConstraintViolation"]
    bad_profile = profile(11, "TxDefaultProfile", 10, unit="kW")
    frame = json.dumps([2, "bad-profile", "SetChargingProfile", {"connectorId": 1, "csChargingProfiles": bad_profile}])
    reply = await csms.send_raw(frame)
    assert reply[:3] == [4, "bad-profile", "PropertyConstraintViolation"]
