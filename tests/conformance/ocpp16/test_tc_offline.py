"""OCA OCPP 1.6 compliance cases, Charge Point side: connection loss, offline transactions and
power failure (TC_032_2_CS, TC_036_CS, TC_037_1_CS, TC_037_2_CS, TC_037_3_CS, TC_038_CS,
TC_039_CS).

The connection is cut by stopping the CSMS, and restored by starting it again on the same port.
A power failure is a SIGKILL of the controller; the simulated board restarts with it, without
the EV."""
from __future__ import annotations

from datetime import timedelta

import pytest
from ocpp.v16 import call

from csms import assert_utc_z
from e2e_harness import WAIT, eventually
from oca16 import Station, charging

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

OFFLINE_KEYS = (("LocalAuthorizeOffline", "true"), ("LocalAuthListEnabled", "true"),
                ("AuthorizationCacheEnabled", "true"), ("AllowOfflineTxForUnknownId", "true"))


async def go_offline(st: Station) -> None:
    await st.csms.stop()

    async def noticed() -> bool:
        return (await st.status())["ocpp"]["state"] == "disconnected"
    await eventually(noticed, what="the controller to notice the connection is gone")


async def come_online(st: Station) -> int:
    connections, mark = len(st.csms.connections), st.csms.mark()
    await st.csms.start()
    await eventually(lambda: len(st.csms.connections) > connections and st.csms.connected, what="a reconnection")
    return mark


async def queued(st: Station) -> int:
    return int((await st.status())["ocpp"]["queue_length"])


async def offline_ready(st: Station, tag: str) -> None:
    """Configuration and memory states of TC_037/TC_039: offline authorisation on, the tag in the
    Local Authorization List."""
    for key, value in OFFLINE_KEYS:
        assert await st.configure(key, value) == "Accepted"
    result = await st.call(call.SendLocalList(list_version=7, update_type="Full", local_authorization_list=[
        {"idTag": tag, "idTagInfo": {"status": "Accepted"}}]))
    assert result.status == "Accepted"


async def clear_local_list(st: Station) -> None:
    await st.call(call.SendLocalList(list_version=0, update_type="Full", local_authorization_list=[]))


async def test_tc_032_2_cs_power_failure_boot_charging_point_configured_to_stop_transactions(cp: Station) -> None:
    """TC_032_2_CS Power failure boot charging point-configured to stop transaction(s).

    Charging, then the power goes and comes back: BootNotification, StatusNotifications for
    connector 0 and the connector, and the transaction closed with StopTransaction reason
    PowerLoss (Borne has no back-up power and does not resume transactions)."""
    tx_id, start = await charging(cp)
    mark = await cp.restart(kill=True)
    await cp.wait_status(0, "Available", since=mark)
    await cp.wait_status(1, "Available", since=mark)
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "PowerLoss"
    assert stop.payload["meterStop"] >= start.payload["meterStart"]
    assert cp.actions(mark)[0] == "BootNotification"


async def test_tc_036_cs_connection_loss_during_transaction(cp: Station) -> None:
    """TC_036_CS Connection Loss During Transaction.

    MeterValueSampleInterval configured; Charging; offline for at least three samples; back
    online: every queued MeterValues arrives, in chronological order before any new one, one
    interval apart, context Sample.Periodic (or omitted) and format Raw (or omitted)."""
    interval = 10
    assert await cp.configure("MeterValueSampleInterval", str(interval)) == "Accepted"
    tx_id, _ = await charging(cp)
    await go_offline(cp)
    base = await queued(cp)

    async def three_samples() -> bool:
        return await queued(cp) >= base + 3
    await eventually(three_samples, interval=0.1, what="three MeterValues to be queued")
    waiting = await queued(cp)
    mark = await come_online(cp)

    async def drained() -> bool:
        return await queued(cp) == 0
    await eventually(drained, interval=0.1, what="the queue to drain")
    values = [r.payload for r in cp.csms.received[mark:] if r.action == "MeterValues"]
    assert len(values) >= waiting >= 3
    assert all(p["transactionId"] == tx_id for p in values)
    times = [assert_utc_z(mv["timestamp"]) for p in values for mv in p["meterValue"]]
    assert times == sorted(times), times
    for earlier, later in zip(times[:waiting], times[1:waiting]):
        assert abs((later - earlier) - timedelta(seconds=interval)) <= timedelta(seconds=1.5), (earlier, later)
    for p in values:
        for mv in p["meterValue"]:
            for sv in mv["sampledValue"]:
                assert sv.get("context", "Sample.Periodic") == "Sample.Periodic"
                assert sv.get("format", "Raw") == "Raw"


async def test_tc_037_1_cs_offline_start_transaction_valid_idtag(cp: Station) -> None:
    """TC_037_1_CS Offline Start Transaction - Valid IdTag.

    Offline, a tag of the Local Authorization List starts a transaction; back online:
    StartTransaction (answered Accepted) and StatusNotification Charging."""
    await offline_ready(cp, "LIST-OK")
    try:
        await go_offline(cp)
        await cp.sim_ok("plug", 1)
        await cp.sim_ok("tap", "LIST-OK")
        await cp.sim_ok("ev-state", 1, "C")
        await cp.wait_evse(lambda e: e["contactor_closed"] and e["local_transaction_id"] is not None,
                           what="charging offline")
        mark = await come_online(cp)
        start = await cp.csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
        assert start.payload["idTag"] == "LIST-OK"
        await cp.wait_status(1, "Charging", since=mark)
    finally:
        await clear_local_list(cp)


@pytest.mark.parametrize("stop_on_invalid", [False, True], ids=["TC_037_2_CS", "TC_037_3_CS"])
async def test_tc_037_cs_offline_start_transaction_invalid_idtag(cp: Station, stop_on_invalid: bool) -> None:
    """TC_037_2_CS Offline Start Transaction - Invalid IdTag - StopTransactionOnInvalidId = false;
    TC_037_3_CS … - StopTransactionOnInvalidId = true.

    Offline, an unknown tag starts a transaction (AllowOfflineTxForUnknownId); back online the
    StartTransaction is answered Invalid. With StopTransactionOnInvalidId true: StopTransaction
    with reason DeAuthorized. With false: the transaction stays, the energy stops
    (SuspendedEVSE, MaxEnergyOnInvalidId 0) and no StopTransaction is sent."""
    for key, value in OFFLINE_KEYS:
        assert await cp.configure(key, value) == "Accepted"
    assert await cp.configure("StopTransactionOnInvalidId", "true" if stop_on_invalid else "false") == "Accepted"
    assert await cp.configure("MaxEnergyOnInvalidId", "0") == "Accepted"
    assert (await cp.call(call.ClearCache())).status == "Accepted"  # the tag is unknown locally
    await go_offline(cp)
    await cp.sim_ok("plug", 1)
    await cp.sim_ok("tap", "TAG-INVALID")
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_evse(lambda e: e["contactor_closed"], what="charging offline")
    mark = await come_online(cp)
    start = await cp.csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["idTag"] == "TAG-INVALID"
    if stop_on_invalid:
        stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
        assert stop.payload["reason"] == "DeAuthorized"
    else:
        await cp.wait_status(1, "SuspendedEVSE", since=mark)
        await cp.round_trip()
        assert "StopTransaction" not in cp.actions(mark)
        evse = await cp.evse()
        assert evse["local_transaction_id"] is not None and evse["contactor_closed"] is False


async def test_tc_038_cs_offline_stop_transaction(cp: Station) -> None:
    """TC_038_CS Offline Stop Transaction.

    Charging; offline, the driver stops with the same tag; back online: StopTransaction with
    reason Local (or omitted) and StatusNotification Finishing."""
    tx_id, _ = await charging(cp)
    await go_offline(cp)
    await cp.sim_ok("tap", "TAG-OK")
    await cp.wait_evse(lambda e: e["local_transaction_id"] is None, what="the transaction to end offline")
    mark = await come_online(cp)
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload.get("reason", "Local") == "Local"
    await cp.wait_status(1, "Finishing", since=mark)


async def test_tc_039_cs_offline_transaction(cp: Station) -> None:
    """TC_039_CS Offline Transaction.

    Offline: a transaction started, stopped and the cable removed; back online: StartTransaction
    (Accepted) then StopTransaction with reason Local (or omitted), for the same transaction."""
    await offline_ready(cp, "LIST-OK")
    try:
        await go_offline(cp)
        await cp.sim_ok("plug", 1)
        await cp.sim_ok("tap", "LIST-OK")
        await cp.wait_evse(lambda e: e["local_transaction_id"] is not None, what="an offline transaction")
        await cp.sim_ok("tap", "LIST-OK")
        await cp.wait_evse(lambda e: e["local_transaction_id"] is None, what="the transaction to end")
        await cp.sim_ok("unplug", 1)
        mark = await come_online(cp)
        stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
        start = next(r for r in cp.csms.received[mark:] if r.action == "StartTransaction")
        assert cp.csms.received.index(start) < cp.csms.received.index(stop)
        assert start.payload["idTag"] == "LIST-OK"
        assert stop.payload["transactionId"] == cp.transaction_id_of(start.unique_id)
        assert stop.payload.get("reason", "Local") == "Local"
    finally:
        await clear_local_list(cp)
