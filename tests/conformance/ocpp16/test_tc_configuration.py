"""OCA OCPP 1.6 compliance cases, Charge Point side: configuration keys (TC_019_CS, TC_021_CS,
TC_040_1_CS, TC_040_2_CS)."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from oca16 import Station, get_configuration

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

# Required keys of each feature profile and their accessibility (OCPP 1.6 chapter 9; errata
# 3.80, 3.81, 3.84): True read-only, False read-write, None either.
REQUIRED = {
    "Core": {
        "AuthorizeRemoteTxRequests": None, "ClockAlignedDataInterval": False, "ConnectionTimeOut": False,
        "ConnectorPhaseRotation": False, "GetConfigurationMaxKeys": True, "HeartbeatInterval": False,
        "LocalAuthorizeOffline": False, "LocalPreAuthorize": False, "MeterValuesAlignedData": False,
        "MeterValuesSampledData": False, "MeterValueSampleInterval": False, "NumberOfConnectors": True,
        "ResetRetries": False, "StopTransactionOnInvalidId": False, "StopTxnAlignedData": False,
        "StopTxnSampledData": False, "SupportedFeatureProfiles": True, "TransactionMessageAttempts": False,
        "TransactionMessageRetryInterval": False, "UnlockConnectorOnEVSideDisconnect": None,
    },
    "LocalAuthListManagement": {
        "LocalAuthListEnabled": False, "LocalAuthListMaxLength": True, "SendLocalListMaxLength": True,
    },
    "SmartCharging": {
        "ChargeProfileMaxStackLevel": True, "ChargingScheduleAllowedChargingRateUnit": True,
        "ChargingScheduleMaxPeriods": True, "MaxChargingProfilesInstalled": True,
    },
    "Reservation": {},
    "RemoteTrigger": {},
    "FirmwareManagement": {},
}


async def test_tc_019_cs_retrieve_configuration(cp: Station) -> None:
    """TC_019_CS Retrieve configuration.

    SupportedFeatureProfiles asked alone: no unknownKey, the value lists Core (and only profiles
    1.6 defines). All keys: at least the required keys of every supported profile, each with the
    accessibility chapter 9 gives it. Specific keys: only those, known ones answered and unknown
    ones listed. AuthorizationKey, where present, is write-only (security whitepaper: its value is
    never returned)."""
    answer = await cp.call(call.GetConfiguration(key=["SupportedFeatureProfiles"]))
    assert not answer.unknown_key
    [entry] = answer.configuration_key
    assert entry["key"] == "SupportedFeatureProfiles"
    profiles = entry["value"].split(",")
    assert "Core" in profiles and set(profiles) <= set(REQUIRED), profiles

    everything = await cp.call(call.GetConfiguration())
    assert not everything.unknown_key
    keys = {k["key"]: k for k in everything.configuration_key}
    for profile in profiles:
        for key, readonly in REQUIRED[profile].items():
            assert key in keys, f"{profile} requires {key}"
            if readonly is not None:
                assert keys[key]["readonly"] is readonly, keys[key]
    if "AuthorizationKey" in keys:
        assert keys["AuthorizationKey"].get("value") in (None, ""), "AuthorizationKey must not be readable"

    some = await cp.call(call.GetConfiguration(key=["HeartbeatInterval", "NoSuchKey", "NumberOfConnectors"]))
    assert [k["key"] for k in some.configuration_key] == ["HeartbeatInterval", "NumberOfConnectors"]
    assert some.unknown_key == ["NoSuchKey"]
    assert {k["key"]: k["value"] for k in some.configuration_key} == {
        "HeartbeatInterval": keys["HeartbeatInterval"]["value"], "NumberOfConnectors": "1"}


async def test_tc_021_cs_change_set_configuration(cp: Station) -> None:
    """TC_021_CS Change/set Configuration.

    MeterValueSampleInterval set to a new value: Accepted, and GetConfiguration returns it."""
    before = (await get_configuration(cp.csms, "MeterValueSampleInterval"))["MeterValueSampleInterval"]
    wanted = "45" if before != "45" else "46"
    assert await cp.configure("MeterValueSampleInterval", wanted) == "Accepted"
    assert await get_configuration(cp.csms, "MeterValueSampleInterval") == {"MeterValueSampleInterval": wanted}


async def test_tc_040_1_cs_configuration_key_not_supported(cp: Station) -> None:
    """TC_040_1_CS Configuration key - NotSupported.

    ChangeConfiguration of an unknown key (Testing = true): NotSupported."""
    result = await cp.call(call.ChangeConfiguration(key="Testing", value="true"))
    assert result.status == "NotSupported"
    assert (await cp.call(call.GetConfiguration(key=["Testing"]))).unknown_key == ["Testing"]


async def test_tc_040_2_cs_configuration_key_invalid_value(cp: Station) -> None:
    """TC_040_2_CS Configuration key - Invalid value.

    ChangeConfiguration of MeterValueSampleInterval to -1: Rejected, the value unchanged."""
    before = await get_configuration(cp.csms, "MeterValueSampleInterval")
    result = await cp.call(call.ChangeConfiguration(key="MeterValueSampleInterval", value="-1"))
    assert result.status == "Rejected"
    assert await get_configuration(cp.csms, "MeterValueSampleInterval") == before
