"""RemoteStartTransaction and RemoteStopTransaction from the CSMS."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(60)


async def test_remote_start_on_connector_when_plugged(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1), timeout=WAIT)
    assert result.status == "Accepted"
    # AuthorizeRemoteTxRequests is true by default: the tag is authorised first.
    auth = await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    assert auth.payload == {"idTag": "TAG-OK"}
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "TAG-OK"
    assert e2e.actions(mark).index("Authorize") < e2e.actions(mark).index("StartTransaction")
    await e2e.wait_status(1, "SuspendedEV", since=mark)
    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_status(1, "Charging", since=mark)


async def test_remote_start_without_connector_then_plug(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK"), timeout=WAIT)
    assert result.status == "Accepted"
    await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    await e2e.wait_status(1, "Preparing", since=mark)
    assert "StartTransaction" not in e2e.actions(mark)
    await e2e.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "TAG-OK"


async def test_remote_start_refused_tag_is_not_started(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-BLOCKED", connector_id=1), timeout=WAIT)
    assert result.status == "Accepted"  # accepted for processing; the Authorize decides
    await csms.wait_for("Authorize", lambda p: p["idTag"] == "TAG-BLOCKED", timeout=WAIT, since=mark)
    # The next remote start goes through, so the refused one left nothing behind.
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1), timeout=WAIT)
    assert result.status == "Accepted"
    await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert [p["idTag"] for p in csms.messages("StartTransaction")] == ["TAG-OK"]


@pytest.mark.parametrize("connector_id", [1, None])
async def test_remote_start_on_busy_connector_rejected(ready: E2E, connector_id: int | None) -> None:
    e2e, csms = ready, ready.csms
    await e2e.start_transaction()
    mark = csms.mark()
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK2", connector_id=connector_id),
                             timeout=WAIT)
    assert result.status == "Rejected"
    # Round trip to be sure nothing was started behind the refusal.
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    assert "Authorize" not in e2e.actions(mark) and "StartTransaction" not in e2e.actions(mark)
    assert len(csms.messages("StartTransaction")) == 1


@pytest.mark.parametrize("connector_id", [7, 2])
async def test_remote_start_unknown_connector_rejected(ready: E2E, connector_id: int) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    result = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=connector_id),
                             timeout=WAIT)
    assert result.status == "Rejected"
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    assert "Authorize" not in e2e.actions(mark)
    assert e2e.statuses(1, mark) == []


async def test_remote_stop_running_transaction(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, start = await e2e.start_transaction()
    mark = csms.mark()
    result = await csms.call(call.RemoteStopTransaction(transaction_id=tx_id), timeout=WAIT)
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "Remote"
    assert stop.payload["meterStop"] >= start["meterStart"]
    await e2e.wait_status(1, "Finishing", since=mark)
    evse = await e2e.wait_evse(lambda e: e["transaction_id"] is None)
    assert evse["contactor_closed"] is False
    assert evse["pwm_duty_percent"] == 100.0
    # Stopping the same transaction again: it is no longer known.
    again = await csms.call(call.RemoteStopTransaction(transaction_id=tx_id), timeout=WAIT)
    assert again.status == "Rejected"
    assert len(csms.messages("StopTransaction")) == 1


async def test_remote_stop_unknown_transaction_rejected(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, _ = await e2e.start_transaction()
    mark = csms.mark()
    result = await csms.call(call.RemoteStopTransaction(transaction_id=tx_id + 1000), timeout=WAIT)
    assert result.status == "Rejected"
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    assert "StopTransaction" not in e2e.actions(mark)
    assert (await e2e.evse())["connector_status"] == "Charging"


async def test_remote_stop_when_idle_rejected(ready: E2E) -> None:
    result = await ready.csms.call(call.RemoteStopTransaction(transaction_id=1), timeout=WAIT)
    assert result.status == "Rejected"
