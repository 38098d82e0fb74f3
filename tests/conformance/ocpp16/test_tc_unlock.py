"""OCA OCPP 1.6 compliance cases, Charge Point side: UnlockConnector on a socket outlet
(TC_017_1_CS, TC_018_1_CS, TC_030_CS, TC_031_CS). The fixed cable cases are in
test_tc_unlock_fixed_cable.py."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT
from oca16 import Station, charging, lock_fault_kind

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def test_tc_017_1_cs_unlock_connector_no_charging_session_not_fixed_cable(cp: Station) -> None:
    """TC_017_1_CS Unlock connector - no charging session running (Not fixed cable).

    UnlockConnector with no transaction: Unlocked, and nothing else happens."""
    mark = cp.csms.mark()
    assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    await cp.round_trip()
    assert "StopTransaction" not in cp.actions(mark) and cp.statuses(1, mark) == []
    assert (await cp.evse())["locked"] is False


async def test_tc_018_1_cs_unlock_connector_with_charging_session_not_fixed_cable(cp: Station) -> None:
    """TC_018_1_CS Unlock Connector - With Charging Session (Not fixed cable).

    Charging; UnlockConnector: Unlocked; StopTransaction with reason UnlockCommand; Finishing;
    the cable out: Available."""
    tx_id, _ = await charging(cp)
    mark = cp.csms.mark()
    assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "Unlocked"
    stop = await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == "UnlockCommand"
    await cp.wait_status(1, "Finishing", since=mark)
    evse = await cp.wait_evse(lambda e: e["local_transaction_id"] is None)
    assert evse["locked"] is False and evse["contactor_closed"] is False
    unplugged = cp.csms.mark()
    await cp.sim_ok("unplug", 1)
    await cp.wait_status(1, "Available", since=unplugged)


async def test_tc_030_cs_unlock_connector_unlock_failure(cp: Station) -> None:
    """TC_030_CS Unlock Connector - Unlock Failure.

    The lock cannot open: UnlockConnector answered UnlockFailed. Runs when the simulated board can
    make the lock fail."""
    kind = lock_fault_kind()
    if kind is None:
        pytest.skip("the simulated board has no lock fault to inject")
    await cp.sim_ok("fault", 1, kind)
    assert (await cp.call(call.UnlockConnector(connector_id=1))).status == "UnlockFailed"


async def test_tc_031_cs_unlock_connector_unknown_connector(cp: Station) -> None:
    """TC_031_CS Unlock Connector - Unknown Connector.

    UnlockConnector for a connector the charge point does not have: NotSupported (OCPP 1.6
    §6.54, UnlockStatus), and nothing else happens."""
    mark = cp.csms.mark()
    assert (await cp.call(call.UnlockConnector(connector_id=2))).status == "NotSupported"
    await cp.round_trip()
    assert cp.actions(mark) == []
