"""UnlockConnector, ClearCache and DataTransfer."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E

pytestmark = pytest.mark.timeout(60)


async def unlock(e2e: E2E, connector_id: int) -> str:
    result = await e2e.csms.call(call.UnlockConnector(connector_id=connector_id), timeout=WAIT)
    return result.status


async def test_unlock_during_transaction_stops_it(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, start = await e2e.start_transaction()
    assert (await e2e.evse())["locked"] is True
    mark = csms.mark()
    assert await unlock(e2e, 1) == "Unlocked"
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "UnlockCommand"
    assert stop.payload["meterStop"] >= start["meterStart"]
    evse = await e2e.wait_evse(lambda e: e["transaction_id"] is None)
    assert evse["locked"] is False
    assert evse["contactor_closed"] is False
    assert evse["pwm_duty_percent"] == 100.0
    await e2e.wait_status(1, "Finishing", since=mark)
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_status(1, "Available", since=mark)


async def test_unlock_when_idle(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await unlock(e2e, 1) == "Unlocked"
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    assert await unlock(e2e, 1) == "Unlocked"
    assert (await e2e.evse())["locked"] is False
    assert "StopTransaction" not in e2e.actions()
    # Unlocking did not break the connector: a session still starts.
    await e2e.sim_ok("tap", "TAG-OK")
    await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    await e2e.wait_evse(lambda e: e["locked"] is True, what="the lock to close for the session")


@pytest.mark.parametrize("connector_id", [2, 9])
async def test_unlock_unknown_connector_not_supported(ready: E2E, connector_id: int) -> None:
    assert await unlock(ready, connector_id) == "NotSupported"


async def test_clear_cache_accepted(ready: E2E) -> None:
    result = await ready.csms.call(call.ClearCache(), timeout=WAIT)
    assert result.status == "Accepted"


async def test_data_transfer_unknown_vendor(ready: E2E) -> None:
    result = await ready.csms.call(call.DataTransfer(vendor_id="com.example", message_id="x", data="{}"),
                                   timeout=WAIT)
    assert result.status == "UnknownVendorId"
