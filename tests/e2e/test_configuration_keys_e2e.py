"""Configuration keys against the running controller: GetConfiguration of every key, of some, of
unknown ones and of too many; ChangeConfiguration with an effect the CSMS can see (heartbeats,
meter values, delayed statuses, the cable lock) and values that survive a restart."""
from __future__ import annotations

from datetime import datetime, timezone

import pytest
from ocpp.exceptions import OCPPError
from ocpp.v16 import call

from chargepoint.settings import core_keys
from e2e_harness import WAIT, E2E, ChargePointProcess, eventually

pytestmark = pytest.mark.timeout(90)


async def get_config(e2e: E2E, keys: list[str] | None = None) -> tuple[list[dict], list[str]]:
    result = await e2e.csms.call(call.GetConfiguration(key=keys), timeout=WAIT)
    return list(result.configuration_key or []), list(result.unknown_key or [])


async def test_get_configuration_answers_every_key_as_the_registry_defines_it(ready: E2E) -> None:
    entries, unknown = await get_config(ready)
    assert unknown == []
    got = {e["key"]: e for e in entries}
    assert len(got) == len(entries), "a key was answered twice"
    # The e2e firmware.toml: one three-phase socket, pings off; the CSMS's boot interval is 300.
    for spec in core_keys(1, heartbeat_interval_s=300, ping_interval_s=0, connector_phases=[3], tethered=[False]):
        assert spec.name in got, spec.name
        assert got[spec.name]["readonly"] is (not spec.writable), spec.name
        assert got[spec.name]["value"] == spec.default, spec.name


async def test_get_configuration_of_some_keys_in_any_case_and_unknown_ones(ready: E2E) -> None:
    entries, unknown = await get_config(
        ready, ["minimumstatusduration", "NoSuchKey", "MINIMUMSTATUSDURATION", "ConnectorPhaseRotation"])
    assert entries == [
        {"key": "MinimumStatusDuration", "readonly": False, "value": "0"},
        {"key": "ConnectorPhaseRotation", "readonly": False, "value": "1.Unknown"},
    ]
    assert unknown == ["NoSuchKey"]
    entries, unknown = await get_config(ready, ["LightIntensity", "BlinkRepeat"])
    assert entries == [] and unknown == ["LightIntensity", "BlinkRepeat"]


async def test_get_configuration_with_more_keys_than_allowed_is_a_call_error(ready: E2E) -> None:
    (limit_entry,), _ = await get_config(ready, ["GetConfigurationMaxKeys"])
    limit = int(limit_entry["value"])
    with pytest.raises(OCPPError) as refused:
        await get_config(ready, ["HeartbeatInterval"] * (limit + 1))
    assert refused.value.code == "OccurenceConstraintViolation"
    entries, _ = await get_config(ready, ["HeartbeatInterval"] * limit)  # the limit itself is fine
    assert [e["key"] for e in entries] == ["HeartbeatInterval"]


async def test_changed_heartbeat_interval_brings_the_next_heartbeat_at_once(ready: E2E) -> None:
    csms = ready.csms
    # 300 s simulated is 30 s real, beyond the wait below: only the new interval brings these.
    mark = csms.mark()
    assert await ready.change_configuration("HeartbeatInterval", "5") == "Accepted"
    first = await csms.wait_for("Heartbeat", timeout=WAIT, since=mark)
    await csms.wait_for("Heartbeat", timeout=WAIT, since=csms.received.index(first) + 1)


async def test_changed_sample_interval_brings_meter_values_during_the_transaction(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "3600") == "Accepted"
    tx_id, _ = await e2e.start_transaction()
    mark = csms.mark()
    assert await e2e.change_configuration("MeterValueSampleInterval", "10") == "Accepted"
    record = await csms.wait_for(
        "MeterValues", lambda p: p.get("transactionId") == tx_id
        and p["meterValue"][0]["sampledValue"][0].get("context") == "Sample.Periodic", timeout=WAIT, since=mark)
    measurands = {sv.get("measurand") for mv in record.payload["meterValue"] for sv in mv["sampledValue"]}
    assert "Energy.Active.Import.Register" in measurands
    stop_mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
    contexts = [mv["sampledValue"][0].get("context") for mv in stop.payload["transactionData"]]
    assert contexts[0] == "Transaction.Begin" and contexts[-1] == "Transaction.End"
    assert "Sample.Periodic" in contexts  # StopTxnSampledData at the same cadence


async def test_minimum_status_duration_holds_back_short_statuses(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MinimumStatusDuration", "60") == "Accepted"  # 6 s real
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("unplug", 1)  # Preparing for about a second: far less than 60 s simulated
    await e2e.sim_ok("plug", 1)
    plugged = datetime.now(timezone.utc)
    record = await csms.wait_for("StatusNotification", lambda p: p["connectorId"] == 1, timeout=WAIT, since=mark)
    assert record.payload["status"] == "Preparing"
    assert e2e.statuses(1, since=mark) == ["Preparing"]  # the first plug-in was never reported
    assert (record.at - plugged).total_seconds() >= 5.0  # held back while it lasted < 60 s (6 s real)


async def test_cable_stays_locked_after_the_ev_left_until_its_tag_returns(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("UnlockConnectorOnEVSideDisconnect", "false") == "Accepted"
    await e2e.start_transaction()
    assert (await e2e.evse())["locked"] is True
    mark = csms.mark()
    await e2e.sim_ok("unplug", 1)
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["reason"] == "EVDisconnected"
    assert (await e2e.evse())["locked"] is True
    await e2e.sim_ok("tap", "TAG-OK")
    await e2e.wait_evse(lambda e: e["locked"] is False, what="the owner's tag to release the cable")
    assert [r.action for r in csms.received[mark:]].count("StartTransaction") == 0


async def test_changed_keys_survive_a_restart(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    changes = {
        "MinimumStatusDuration": "7",
        "ConnectorPhaseRotation": "0.RST,1.RST",
        "UnlockConnectorOnEVSideDisconnect": "false",
        "MeterValuesSampledData": "Voltage.L1,Current.Import",
        "TransactionMessageRetryInterval": "0",
    }
    for key, value in changes.items():
        assert await e2e.change_configuration(key, value) == "Accepted", key
    await e2e.cp.stop()
    connections = len(csms.connections)
    mark = csms.mark()
    restarted = ChargePointProcess(e2e.config_path, e2e.cp.log_path)
    e2e.cp = restarted
    try:
        await restarted.start()
        await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a new connection")
        await csms.wait_for("BootNotification", timeout=WAIT, since=mark)
        entries, unknown = await get_config(e2e, list(changes))
        assert unknown == []
        assert {e["key"]: e["value"] for e in entries} == changes
    finally:
        await restarted.stop()
