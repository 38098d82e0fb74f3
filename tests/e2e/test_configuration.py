"""GetConfiguration and ChangeConfiguration against the running controller."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E, eventually

pytestmark = pytest.mark.timeout(60)

CORE_KEYS = {
    "AuthorizeRemoteTxRequests", "ClockAlignedDataInterval", "ConnectionTimeOut", "GetConfigurationMaxKeys",
    "HeartbeatInterval", "LocalAuthorizeOffline", "LocalPreAuthorize", "MeterValuesAlignedData",
    "MeterValuesSampledData", "MeterValueSampleInterval", "NumberOfConnectors", "ResetRetries",
    "ConnectorPhaseRotation", "StopTransactionOnEVSideDisconnect", "StopTransactionOnInvalidId",
    "StopTxnAlignedData", "StopTxnSampledData", "SupportedFeatureProfiles", "TransactionMessageAttempts",
    "TransactionMessageRetryInterval", "UnlockConnectorOnEVSideDisconnect",
}


async def get_config(e2e: E2E, keys: list[str] | None = None) -> tuple[dict[str, dict], list[str]]:
    result = await e2e.csms.call(call.GetConfiguration(key=keys), timeout=WAIT)
    entries = {entry["key"]: entry for entry in result.configuration_key or []}
    return entries, list(result.unknown_key or [])


async def test_get_all_configuration(ready: E2E) -> None:
    entries, unknown = await get_config(ready)
    assert unknown == []
    assert CORE_KEYS <= set(entries), CORE_KEYS - set(entries)
    # AuthorizationKey is write-only (security whitepaper §7.2): listed without a value.
    assert entries.pop("AuthorizationKey") == {"key": "AuthorizationKey", "readonly": False}
    for entry in entries.values():
        assert isinstance(entry["value"], str)
        assert isinstance(entry["readonly"], bool)
    assert entries["NumberOfConnectors"] == {"key": "NumberOfConnectors", "readonly": True, "value": "1"}
    assert entries["SupportedFeatureProfiles"]["readonly"] is True
    assert "Core" in entries["SupportedFeatureProfiles"]["value"].split(",")
    # The CSMS's BootNotification interval (300) is the HeartbeatInterval now.
    assert entries["HeartbeatInterval"] == {"key": "HeartbeatInterval", "readonly": False, "value": "300"}
    assert entries["MeterValueSampleInterval"]["readonly"] is False
    assert entries["MeterValueSampleInterval"]["value"].isdigit()
    assert entries["AuthorizeRemoteTxRequests"]["value"] == "true"


async def test_get_configuration_with_unknown_key(ready: E2E) -> None:
    entries, unknown = await get_config(ready, ["HeartbeatInterval", "NoSuchKey", "NumberOfConnectors"])
    assert set(entries) == {"HeartbeatInterval", "NumberOfConnectors"}
    assert unknown == ["NoSuchKey"]
    entries, unknown = await get_config(ready, ["NoSuchKey"])
    assert entries == {} and unknown == ["NoSuchKey"]


async def test_change_configuration_accepted_and_read_back(ready: E2E) -> None:
    assert await ready.change_configuration("MeterValueSampleInterval", "30") == "Accepted"
    assert await ready.change_configuration("StopTransactionOnInvalidId", "false") == "Accepted"
    entries, _ = await get_config(ready, ["MeterValueSampleInterval", "StopTransactionOnInvalidId"])
    assert entries["MeterValueSampleInterval"]["value"] == "30"
    assert entries["StopTransactionOnInvalidId"]["value"] == "false"


BAD_VALUES = [
    ("MeterValueSampleInterval", "abc"),
    ("MeterValueSampleInterval", "-5"),
    ("HeartbeatInterval", "0"),
    ("ConnectionTimeOut", "1.5"),
    ("AuthorizeRemoteTxRequests", "maybe"),
    ("MeterValuesSampledData", "Energy.Active.Import.Register,Bogus.Measurand"),
]
READ_ONLY = ["NumberOfConnectors", "SupportedFeatureProfiles", "GetConfigurationMaxKeys"]


async def test_change_configuration_bad_value_rejected(ready: E2E, subtests: pytest.Subtests) -> None:
    for key, value in BAD_VALUES:
        with subtests.test(msg=f"{key}={value}"):
            before, _ = await get_config(ready, [key])
            assert await ready.change_configuration(key, value) == "Rejected"
            after, _ = await get_config(ready, [key])
            assert after == before


async def test_change_configuration_unknown_key_not_supported(ready: E2E) -> None:
    assert await ready.change_configuration("NoSuchKey", "1") == "NotSupported"
    _, unknown = await get_config(ready, ["NoSuchKey"])
    assert unknown == ["NoSuchKey"]


async def test_change_configuration_read_only_rejected(ready: E2E, subtests: pytest.Subtests) -> None:
    for key in READ_ONLY:
        with subtests.test(msg=key):
            before, _ = await get_config(ready, [key])
            assert await ready.change_configuration(key, "5") == "Rejected"
            after, _ = await get_config(ready, [key])
            assert after == before


async def test_changed_configuration_survives_soft_reset(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "17") == "Accepted"
    assert await e2e.change_configuration("ConnectionTimeOut", "42") == "Accepted"
    mark = csms.mark()
    connections = len(csms.connections)
    result = await csms.call(call.Reset(type="Soft"), timeout=WAIT)
    assert result.status == "Accepted"
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a new connection")
    await csms.wait_for("BootNotification", timeout=WAIT, since=mark)
    await e2e.wait_status(1, "Available", since=mark)
    entries, _ = await get_config(e2e, ["MeterValueSampleInterval", "ConnectionTimeOut"])
    assert entries["MeterValueSampleInterval"]["value"] == "17"
    assert entries["ConnectionTimeOut"]["value"] == "42"


@pytest.mark.csms(boot_interval=10)
async def test_heartbeat_interval_from_boot_and_heartbeats(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    entries, _ = await get_config(e2e, ["HeartbeatInterval"])
    assert entries["HeartbeatInterval"]["value"] == "10"
    # 10 s simulated = 1 s real: heartbeats come when the link is idle.
    await csms.wait_for("Heartbeat", timeout=WAIT)
    mark = csms.mark()
    await csms.wait_for("Heartbeat", timeout=WAIT, since=mark)
