"""OCA OCPP 1.6 compliance cases, Charge Point side: Smart Charging (TC_056_CS, TC_057_CS,
TC_058_1_CS, TC_058_2_CS, TC_059_CS, TC_060_CS, TC_066_CS, TC_067_CS, TC_072_CS, TC_082_CS).

What a profile does is checked on the pilot: the simulated EV decodes the current offered. The
controller's clock runs ahead of the test's, so Absolute schedules start in the past."""
from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from e2e_harness import WAIT
from oca16 import Station, charging, transaction_id

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

MAX_A = 32.0


def profile(profile_id: int, purpose: str, limit: float, *, stack: int = 0, tx: int | None = None,
            kind: str = "Absolute") -> dict[str, Any]:
    schedule: dict[str, Any] = {"chargingRateUnit": "A", "chargingSchedulePeriod": [{"startPeriod": 0, "limit": limit}]}
    if kind == "Absolute":
        schedule["startSchedule"] = "2020-01-01T00:00:00Z"
    data: dict[str, Any] = {"chargingProfileId": profile_id, "stackLevel": stack, "chargingProfilePurpose": purpose,
                            "chargingProfileKind": kind, "chargingSchedule": schedule}
    if tx is not None:
        data["transactionId"] = tx
    return data


async def set_profile(st: Station, connector_id: int, data: dict[str, Any]) -> str:
    result = await st.call(call.SetChargingProfile(connector_id=connector_id, cs_charging_profiles=data))
    return str(result.status)


async def offered(st: Station, amps: float) -> None:
    await st.wait_evse(lambda e: abs(e["offered_current_a"] - amps) < 0.05, what=f"the pilot to offer {amps} A")


@pytest_asyncio.fixture(loop_scope="module")
async def sc(cp: Station) -> AsyncIterator[Station]:
    """A case of this module: no charging profile before and after it."""
    await cp.call(call.ClearChargingProfile())
    yield cp
    await cp.call(call.ClearChargingProfile())


async def test_tc_056_cs_central_smart_charging_tx_default_profile(sc: Station) -> None:
    """TC_056_CS Central Smart Charging - TxDefaultProfile.

    SetChargingProfile TxDefaultProfile: Accepted; a new transaction is held to its limit."""
    assert await set_profile(sc, 1, profile(1, "TxDefaultProfile", 10)) == "Accepted"
    await charging(sc)
    await offered(sc, 10)


async def test_tc_057_cs_central_smart_charging_tx_profile(sc: Station) -> None:
    """TC_057_CS Central Smart Charging - TxProfile.

    Charging; SetChargingProfile TxProfile with the transactionId: Accepted, the limit applies."""
    tx_id, _ = await charging(sc)
    await offered(sc, MAX_A)
    assert await set_profile(sc, 1, profile(2, "TxProfile", 12, tx=tx_id)) == "Accepted"
    await offered(sc, 12)


async def refused(st: Station, connector_id: int, data: dict[str, Any]) -> None:
    """Rejected, or (the cases admit it) a CALLERROR PropertyConstraintViolation."""
    try:
        status = await set_profile(st, connector_id, data)
    except OCPPError as error:
        assert error.code == "PropertyConstraintViolation", error
    else:
        assert status == "Rejected"


async def test_tc_058_1_cs_central_smart_charging_no_ongoing_transaction(sc: Station) -> None:
    """TC_058_1_CS Central Smart Charging - No ongoing transaction.

    No transaction: SetChargingProfile TxProfile with a transactionId is Rejected (OCPP 1.6
    §3.13.3)."""
    await refused(sc, 1, profile(3, "TxProfile", 10, tx=4242))
    assert (await sc.call(call.ClearChargingProfile(id=3))).status == "Unknown"


async def test_tc_058_2_cs_central_smart_charging_wrong_transaction_id(sc: Station) -> None:
    """TC_058_2_CS Central Smart Charging - Wrong transactionId.

    Charging; SetChargingProfile TxProfile with another transactionId: Rejected, the limit
    unchanged."""
    tx_id, _ = await charging(sc)
    await refused(sc, 1, profile(4, "TxProfile", 10, tx=tx_id + 1000))
    await offered(sc, MAX_A)


async def test_tc_059_cs_remote_start_transaction_with_charging_profile(sc: Station) -> None:
    """TC_059_CS Remote Start Transaction with Charging Profile.

    RemoteStartTransaction with a TxProfile (no transactionId): Accepted; the transaction starts
    and is held to the profile's limit."""
    csms, mark = sc.csms, sc.csms.mark()
    await sc.sim_ok("plug", 1)
    await sc.wait_status(1, "Preparing", since=mark)
    result = await sc.call(call.RemoteStartTransaction(
        id_tag="TAG-OK", connector_id=1, charging_profile=profile(5, "TxProfile", 14, kind="Relative")))
    assert result.status == "Accepted"
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await transaction_id(sc, start)
    await sc.sim_ok("ev-state", 1, "C")
    await sc.wait_status(1, "Charging", since=mark)
    await offered(sc, 14)


async def test_tc_060_cs_remote_start_transaction_with_charging_profile_rejected(sc: Station) -> None:
    """TC_060_CS Remote Start Transaction with Charging Profile - Rejected.

    RemoteStartTransaction whose profile is not a TxProfile: Rejected (or CALLERROR
    PropertyConstraintViolation), and no transaction."""
    mark = sc.csms.mark()
    try:
        result = await sc.call(call.RemoteStartTransaction(
            id_tag="TAG-OK", connector_id=1, charging_profile=profile(6, "TxDefaultProfile", 14)))
    except OCPPError as error:
        assert error.code == "PropertyConstraintViolation", error
    else:
        assert result.status == "Rejected"
    await sc.round_trip()
    assert "StartTransaction" not in sc.actions(mark) and "Authorize" not in sc.actions(mark)


async def test_tc_066_cs_get_composite_schedule(sc: Station) -> None:
    """TC_066_CS Get Composite Schedule.

    A TxDefaultProfile installed; GetCompositeSchedule for the connector: Accepted, with the
    connectorId, a scheduleStart in UTC and the profile's limit for the duration asked."""
    assert await set_profile(sc, 1, profile(7, "TxDefaultProfile", 16)) == "Accepted"
    result = await sc.call(call.GetCompositeSchedule(connector_id=1, duration=600, charging_rate_unit="A"))
    assert result.status == "Accepted" and result.connector_id == 1
    assert result.schedule_start.endswith("Z")
    schedule = result.charging_schedule
    assert schedule["charging_rate_unit"] == "A" and schedule["duration"] == 600
    assert [p["limit"] for p in schedule["charging_schedule_period"]] == [16.0]


async def test_tc_067_cs_clear_charging_profile(sc: Station) -> None:
    """TC_067_CS Clear Charging Profile.

    Charging; three profiles set (ChargePointMaxProfile on connector 0, TxDefaultProfile,
    TxProfile): each Accepted; cleared by id, then by criteria, then all the rest: each
    Accepted, and the limit back at the maximum."""
    tx_id, _ = await charging(sc)
    assert await set_profile(sc, 0, profile(81, "ChargePointMaxProfile", 20)) == "Accepted"
    assert await set_profile(sc, 1, profile(82, "TxDefaultProfile", 18)) == "Accepted"
    assert await set_profile(sc, 1, profile(83, "TxProfile", 8, stack=1, tx=tx_id)) == "Accepted"
    await offered(sc, 8)
    assert (await sc.call(call.ClearChargingProfile(id=83))).status == "Accepted"
    await offered(sc, 18)
    cleared = await sc.call(call.ClearChargingProfile(connector_id=1, charging_profile_purpose="TxDefaultProfile"))
    assert cleared.status == "Accepted"
    await offered(sc, 20)
    assert (await sc.call(call.ClearChargingProfile())).status == "Accepted"
    await offered(sc, MAX_A)


async def test_tc_072_cs_stacking_charging_profiles(sc: Station) -> None:
    """TC_072_CS Stacking Charging Profiles.

    Two TxDefaultProfiles at stack levels 0 and 1: the higher stack level rules (OCPP 1.6
    §3.13.2)."""
    assert await set_profile(sc, 1, profile(91, "TxDefaultProfile", 20, stack=0)) == "Accepted"
    assert await set_profile(sc, 1, profile(92, "TxDefaultProfile", 9, stack=1)) == "Accepted"
    await charging(sc)
    await offered(sc, 9)


async def test_tc_082_cs_central_smart_charging_tx_default_profile_with_ongoing_transaction(sc: Station) -> None:
    """TC_082_CS Central Smart Charging - TxDefaultProfile - with ongoing transaction.

    Charging without a profile; SetChargingProfile TxDefaultProfile: Accepted, and the running
    transaction switches to it (errata 3.13.1 / 5.16.3)."""
    await charging(sc)
    await offered(sc, MAX_A)
    assert await set_profile(sc, 1, profile(95, "TxDefaultProfile", 11)) == "Accepted"
    await offered(sc, 11)
