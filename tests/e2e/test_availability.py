"""ChangeAvailability: Inoperative connectors refuse new sessions; a running transaction makes
the change Scheduled until it ends."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E, eventually

pytestmark = pytest.mark.timeout(60)


async def change_availability(e2e: E2E, connector_id: int, kind: str) -> str:
    result = await e2e.csms.call(call.ChangeAvailability(connector_id=connector_id, type=kind), timeout=WAIT)
    return result.status


async def badges_read(e2e: E2E) -> bool:
    return (await e2e.status())["pending_badges"] == 0


async def test_inoperative_when_idle_refuses_sessions(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await change_availability(e2e, 1, "Inoperative") == "Accepted"
    await e2e.wait_status(1, "Unavailable", since=mark)
    # The only connector is unavailable, so the charge point as a whole is too.
    await e2e.wait_status(0, "Unavailable", since=mark)
    assert (await e2e.evse())["connector_status"] == "Unavailable"

    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "TAG-OK")
    await eventually(lambda: badges_read(e2e), what="the badge to be read")
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    evse = await e2e.evse()
    assert evse["connector_status"] == "Unavailable"
    assert evse["pwm_duty_percent"] == 100.0 and evse["transaction_id"] is None
    assert "StartTransaction" not in e2e.actions(mark)
    assert e2e.statuses(1, mark) == ["Unavailable"]

    back = csms.mark()
    assert await change_availability(e2e, 1, "Operative") == "Accepted"
    await e2e.wait_status(1, "Preparing", since=back)  # the EV is still plugged
    await e2e.wait_status(0, "Available", since=back)
    # The badge tapped while unavailable was not kept: no transaction until a new tap.
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    assert "StartTransaction" not in e2e.actions(mark)
    await e2e.sim_ok("tap", "TAG-OK")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=back)
    assert start.payload["idTag"] == "TAG-OK"


async def test_inoperative_then_operative_when_idle(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await change_availability(e2e, 1, "Inoperative") == "Accepted"
    await e2e.wait_status(1, "Unavailable", since=mark)
    # Asking again for the state it is already in is accepted and changes nothing.
    assert await change_availability(e2e, 1, "Inoperative") == "Accepted"
    back = csms.mark()
    assert await change_availability(e2e, 1, "Operative") == "Accepted"
    await e2e.wait_status(1, "Available", since=back)
    await e2e.wait_status(0, "Available", since=back)
    assert e2e.statuses(1, mark) == ["Unavailable", "Available"]


async def test_inoperative_while_charging_is_scheduled(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, _ = await e2e.start_transaction()
    mark = csms.mark()
    assert await change_availability(e2e, 1, "Inoperative") == "Scheduled"
    # The transaction goes on.
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    assert "StopTransaction" not in e2e.actions(mark)
    assert e2e.statuses(1, mark) == []
    evse = await e2e.evse()
    assert evse["connector_status"] == "Charging" and evse["contactor_closed"] is True

    result = await csms.call(call.RemoteStopTransaction(transaction_id=tx_id), timeout=WAIT)
    assert result.status == "Accepted"
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["reason"] == "Remote"
    await e2e.wait_status(1, "Unavailable", since=mark)
    await e2e.wait_status(0, "Unavailable", since=mark)
    evse = await e2e.wait_evse(lambda e: e["connector_status"] == "Unavailable")
    assert evse["contactor_closed"] is False

    back = csms.mark()
    assert await change_availability(e2e, 1, "Operative") == "Accepted"
    await e2e.wait_status(1, "Finishing", since=back)  # the EV is still plugged after its session
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_status(1, "Available", since=back)


async def test_connector_zero_changes_all(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await change_availability(e2e, 0, "Inoperative") == "Accepted"
    await e2e.wait_status(1, "Unavailable", since=mark)
    await e2e.wait_status(0, "Unavailable", since=mark)
    back = csms.mark()
    assert await change_availability(e2e, 0, "Operative") == "Accepted"
    await e2e.wait_status(1, "Available", since=back)
    await e2e.wait_status(0, "Available", since=back)


async def test_unknown_connector_rejected(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await change_availability(e2e, 5, "Inoperative") == "Rejected"
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    assert e2e.statuses(1, mark) == [] and e2e.statuses(0, mark) == []
    assert (await e2e.evse())["connector_status"] == "Available"


async def test_unavailability_survives_reset(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await change_availability(e2e, 1, "Inoperative") == "Accepted"
    await e2e.wait_status(1, "Unavailable", since=mark)
    connections = len(csms.connections)
    reset_mark = csms.mark()
    assert (await csms.call(call.Reset(type="Soft"), timeout=WAIT)).status == "Accepted"
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a new connection")
    await csms.wait_for("BootNotification", timeout=WAIT, since=reset_mark)
    await e2e.wait_status(1, "Unavailable", since=reset_mark)
    await e2e.wait_status(0, "Unavailable", since=reset_mark)
    assert "Available" not in e2e.statuses(1, reset_mark)
