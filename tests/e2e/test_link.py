"""The WebSocket link: reconnection after drops and CSMS outages, what is (and is not) sent
again, and transactions that happen while offline."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from csms import assert_utc_z
from e2e_harness import TAGS, WAIT, E2E, eventually

pytestmark = pytest.mark.timeout(60)


async def wait_reconnected(e2e: E2E, connections: int) -> None:
    csms = e2e.csms
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a reconnection")


@pytest.mark.parametrize("abrupt", [False, True], ids=["close", "abort"])
async def test_drop_while_idle_reconnects_without_boot(ready: E2E, abrupt: bool) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await csms.drop_connection(abrupt=abrupt)
    await wait_reconnected(e2e, 1)
    assert csms.cp_id == "E2E-CP-1" and csms.subprotocol == "ocpp1.6"
    await e2e.wait_status(0, "Available", since=mark)
    await e2e.wait_status(1, "Available", since=mark)
    # OCPP-J: a reconnect is not a reboot.
    assert "BootNotification" not in e2e.actions(mark)
    # Only the current status, once per connector.
    assert e2e.statuses(1, mark) == ["Available"]
    assert e2e.statuses(0, mark) == ["Available"]
    assert (await e2e.status())["ocpp"]["state"] == "accepted"
    result = await csms.call(call.GetConfiguration(key=["NumberOfConnectors"]), timeout=WAIT)
    assert result.configuration_key[0]["value"] == "1"


async def test_status_change_while_offline_sends_only_current_status(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    await csms.stop()
    await eventually(lambda: _ocpp_state(e2e, "disconnected"), what="the controller to notice")
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("unplug", 1)
    await e2e.sim_ok("plug", 1)
    await e2e.wait_evse(lambda e: e["connector_status"] == "Preparing")
    mark = csms.mark()
    await csms.start()
    await wait_reconnected(e2e, 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    await e2e.wait_status(0, "Available", since=mark)
    assert e2e.statuses(1, mark) == ["Preparing"]
    assert "BootNotification" not in e2e.actions(mark)


async def _ocpp_state(e2e: E2E, state: str) -> bool:
    return (await e2e.status())["ocpp"]["state"] == state


@pytest.mark.csms(tags={**TAGS, "TECH-0001": "Accepted"})
async def test_offline_transaction_is_replayed_in_order(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "5") == "Accepted"
    await csms.stop()
    await eventually(lambda: _ocpp_state(e2e, "disconnected"), what="the controller to notice")

    # The technician whitelist authorises offline.
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "TECH-0001")
    await e2e.sim_ok("ev-state", 1, "C")
    charging = await e2e.wait_evse(lambda e: e["connector_status"] == "Charging" and e["contactor_closed"])
    assert charging["transaction_id"] is None  # the CSMS has not given one yet
    await e2e.wait_evse(lambda e: e["energy_wh"] > 0, what="energy")

    mark = csms.mark()
    await csms.start()
    await wait_reconnected(e2e, 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["idTag"] == "TECH-0001" and start.payload["connectorId"] == 1
    assert_utc_z(start.payload["timestamp"])
    assert "BootNotification" not in e2e.actions(mark)
    tx_id = await eventually(lambda: e2e.transaction_id_of(start.unique_id), what="the transactionId")
    await e2e.wait_evse(lambda e: e["transaction_id"] == tx_id, what="the CSMS's transaction id")
    await e2e.wait_status(1, "Charging", since=mark)

    # Meter values stored offline and new ones all carry the CSMS's id once it is known.
    await csms.wait_for("MeterValues", timeout=WAIT, since=mark)
    stop_mark = csms.mark()
    await e2e.sim_ok("tap", "TECH-0001")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["meterStop"] > start.payload["meterStart"]
    actions = e2e.actions(mark)
    assert actions.index("StartTransaction") < actions.index("StopTransaction")
    tx_messages = [r for r in csms.received[mark:] if r.action in ("StartTransaction", "MeterValues", "StopTransaction")]
    assert tx_messages[0].action == "StartTransaction" and tx_messages[-1].action == "StopTransaction"
    for record in tx_messages:
        if record.action == "MeterValues":
            assert record.payload["transactionId"] == tx_id


@pytest.mark.parametrize("clear", [False, True], ids=["cached", "cache-cleared"])
async def test_offline_authorisation_from_cache(ready: E2E, clear: bool) -> None:
    e2e, csms = ready, ready.csms
    # An online session puts TAG-OK in the authorisation cache.
    await e2e.start_transaction("TAG-OK")
    mark = csms.mark()
    await e2e.sim_ok("unplug", 1)
    await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await e2e.wait_status(1, "Available", since=mark)
    if clear:
        assert (await csms.call(call.ClearCache(), timeout=WAIT)).status == "Accepted"

    await csms.stop()
    await eventually(lambda: _ocpp_state(e2e, "disconnected"), what="the controller to notice")
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "TAG-OK")
    if clear:
        # Not cached any more, not whitelisted, unknown tags are refused offline.
        await eventually(lambda: _badges_read(e2e), what="the badge to be read")
        evse = await e2e.evse()
        assert evse["local_transaction_id"] is None and evse["pwm_duty_percent"] == 100.0
    else:
        await e2e.wait_evse(lambda e: e["local_transaction_id"] is not None and e["pwm_duty_percent"] < 100,
                            what="an offline transaction")
    mark = csms.mark()
    await csms.start()
    await wait_reconnected(e2e, 1)
    await e2e.wait_status(1, "Preparing" if clear else "SuspendedEV", since=mark)
    if not clear:
        await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await csms.call(call.GetConfiguration(key=["NumberOfConnectors"]), timeout=WAIT)
    starts = [p["idTag"] for p in csms.messages("StartTransaction")]
    assert starts == (["TAG-OK"] if clear else ["TAG-OK", "TAG-OK"])


async def _badges_read(e2e: E2E) -> bool:
    return (await e2e.status())["pending_badges"] == 0


async def test_drop_during_transaction_keeps_charging(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, _ = await e2e.start_transaction()
    mark = csms.mark()
    await csms.drop_connection(abrupt=True)
    await wait_reconnected(e2e, 1)
    await e2e.wait_status(1, "Charging", since=mark)
    assert "BootNotification" not in e2e.actions(mark)
    assert "StopTransaction" not in e2e.actions(mark)
    evse = await e2e.evse()
    assert evse["transaction_id"] == tx_id and evse["contactor_closed"] is True
    result = await csms.call(call.RemoteStopTransaction(transaction_id=tx_id), timeout=WAIT)
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "Remote"


async def test_offline_transaction_refused_when_replayed(ready: E2E) -> None:
    """The CSMS does not know the whitelisted tag: the replayed StartTransaction is answered
    Invalid and, with StopTransactionOnInvalidId (default true), the transaction is stopped."""
    e2e, csms = ready, ready.csms
    await csms.stop()
    await eventually(lambda: _ocpp_state(e2e, "disconnected"), what="the controller to notice")
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "TECH-0001")
    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_evse(lambda e: e["connector_status"] == "Charging" and e["contactor_closed"])
    mark = csms.mark()
    await csms.start()
    await wait_reconnected(e2e, 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    tx_id = await eventually(lambda: e2e.transaction_id_of(start.unique_id), what="the transactionId")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "DeAuthorized"
    evse = await e2e.wait_evse(lambda e: not e["contactor_closed"] and e["transaction_id"] is None)
    assert evse["pwm_duty_percent"] == 100.0
    await e2e.wait_status(1, "Finishing", since=mark)
