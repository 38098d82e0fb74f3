"""Hardware faults as the CSMS sees them: Faulted with an error code, and a transaction stopped
when the fault makes charging unsafe."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(60)


async def test_pp_fault_while_plugged(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    fault_mark = csms.mark()
    await e2e.sim_ok("fault", 1, "pp")
    faulted = await e2e.wait_status(1, "Faulted", since=fault_mark)
    assert faulted["errorCode"] == "OtherError"
    await e2e.sim_ok("clear", 1, "pp")
    back = await e2e.wait_status(1, "Preparing", since=fault_mark)
    assert back["errorCode"] == "NoError"


async def test_rcm_trip_while_charging_stops_transaction(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, _ = await e2e.start_transaction()
    mark = csms.mark()
    await e2e.sim_ok("fault", 1, "rcm")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "Other"
    faulted = await e2e.wait_status(1, "Faulted", since=mark)
    assert faulted["errorCode"] == "GroundFailure"
    evse = await e2e.wait_evse(lambda e: not e["contactor_closed"])
    assert evse["contactor_feedback_closed"] is False
    # A latching fault: a badge does not start a new session.
    start_count = len(csms.messages("StartTransaction"))
    await e2e.sim_ok("tap", "TAG-OK2")
    await csms.call(call.GetConfiguration(), timeout=WAIT)
    assert len(csms.messages("StartTransaction")) == start_count


async def test_plug_and_unplug_never_report_faulted(ready: E2E) -> None:
    """Plugging in and out repeatedly goes Preparing <-> Available only."""
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    for _ in range(3):
        step = csms.mark()
        await e2e.sim_ok("plug", 1)
        await e2e.wait_status(1, "Preparing", since=step)
        step = csms.mark()
        await e2e.sim_ok("unplug", 1)
        await e2e.wait_status(1, "Available", since=step)
    assert e2e.statuses(1, mark) == ["Preparing", "Available"] * 3
