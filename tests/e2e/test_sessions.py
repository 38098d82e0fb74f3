"""Local charging sessions end to end: badge and cable in either order, stop by badge or by
unplugging, refused badges and the ConnectionTimeOut."""
from __future__ import annotations

import pytest

from csms import assert_utc_z
from e2e_harness import WAIT, E2E, check_timestamps, eventually

pytestmark = pytest.mark.timeout(60)

ENERGY = "Energy.Active.Import.Register"


async def _badges_read(e2e: E2E) -> bool:
    return (await e2e.status())["pending_badges"] == 0


def energy_of(meter_value: dict) -> float | None:
    for sv in meter_value["sampledValue"]:
        if sv.get("measurand", ENERGY) == ENERGY:
            return float(sv["value"])
    return None


async def test_plug_then_tap_full_session(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await e2e.change_configuration("MeterValueSampleInterval", "5") == "Accepted"

    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    # Plugging in is reported as Preparing and nothing else (no passing PP "fault").
    assert e2e.statuses(1, mark) == ["Preparing"]
    idle = await e2e.evse()
    assert idle["cp_state"] == "B" and idle["pwm_duty_percent"] == 100.0  # no PWM before authorisation
    assert idle["contactor_closed"] is False

    await e2e.sim_ok("tap", "TAG-OK")
    auth = await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    assert auth.payload == {"idTag": "TAG-OK"}
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["connectorId"] == 1
    assert start.payload["idTag"] == "TAG-OK"
    meter_start = start.payload["meterStart"]
    assert isinstance(meter_start, int) and meter_start >= 0
    assert_utc_z(start.payload["timestamp"])
    assert e2e.actions(mark).index("Authorize") < e2e.actions(mark).index("StartTransaction")
    tx_id = await eventually(lambda: e2e.transaction_id_of(start.unique_id), what="the transactionId")

    # EV still in B, PWM on: suspended by the EV.
    await e2e.wait_status(1, "SuspendedEV", since=mark)
    evse = await e2e.wait_evse(lambda e: 0 < e["pwm_duty_percent"] < 100, what="PWM on")
    assert evse["cp_state"] == "B"
    assert evse["transaction_id"] == tx_id
    assert evse["locked"] is True

    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_status(1, "Charging", since=mark)
    charging = await e2e.wait_evse(lambda e: e["contactor_closed"] and e["power_w"] > 0, what="charging")
    assert charging["cp_state"] == "C"
    assert charging["contactor_feedback_closed"] is True
    assert charging["connector_status"] == "Charging"
    first_energy = charging["energy_wh"]
    await e2e.wait_evse(lambda e: e["energy_wh"] > first_energy, what="energy to increase")

    # Two periodic samples, for this transaction, with a growing energy register.
    mv1 = await csms.wait_for("MeterValues", lambda p: p.get("transactionId") == tx_id, timeout=WAIT, since=mark)
    mv2 = await csms.wait_for("MeterValues", lambda p: p.get("transactionId") == tx_id, timeout=WAIT,
                              since=csms.received.index(mv1) + 1)
    for mv in (mv1, mv2):
        assert mv.payload["connectorId"] == 1
        assert energy_of(mv.payload["meterValue"][0]) is not None
        for sv in mv.payload["meterValue"][0]["sampledValue"]:
            assert sv.get("context", "Sample.Periodic") == "Sample.Periodic"
    assert energy_of(mv2.payload["meterValue"][0]) >= energy_of(mv1.payload["meterValue"][0])

    stop_mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=stop_mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload.get("reason", "Local") == "Local"
    assert stop.payload["meterStop"] >= meter_start
    assert stop.payload["meterStop"] > meter_start  # it charged for a while at 22 kW
    assert stop.payload.get("idTag") == "TAG-OK"
    assert_utc_z(stop.payload["timestamp"])
    # No Authorize for the stopping badge: it is the transaction's own tag.
    assert "Authorize" not in e2e.actions(stop_mark)

    await e2e.wait_status(1, "Finishing", since=stop_mark)
    finished = await e2e.wait_evse(lambda e: not e["contactor_closed"] and e["transaction_id"] is None)
    assert finished["pwm_duty_percent"] == 100.0
    unplug_mark = csms.mark()
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_status(1, "Available", since=stop_mark)
    assert e2e.statuses(1, unplug_mark) == ["Available"]
    done = await e2e.wait_evse(lambda e: e["connector_status"] == "Available")
    assert done["locked"] is False
    check_timestamps(csms)


async def test_tap_then_plug(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    await e2e.wait_status(1, "Preparing", since=mark)
    assert "StartTransaction" not in e2e.actions(mark)
    assert (await e2e.evse())["pwm_duty_percent"] == 100.0

    await e2e.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["connectorId"] == 1 and start.payload["idTag"] == "TAG-OK"
    await e2e.wait_status(1, "SuspendedEV", since=mark)
    await e2e.sim_ok("ev-state", 1, "C")
    await e2e.wait_status(1, "Charging", since=mark)


async def test_connection_timeout_without_cable(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    # 10 s simulated = 1 s real at time scale 10.
    assert await e2e.change_configuration("ConnectionTimeOut", "10") == "Accepted"
    mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    await e2e.wait_status(1, "Preparing", since=mark)
    await e2e.wait_status(1, "Available", since=mark)
    assert e2e.statuses(1, mark) == ["Preparing", "Available"]
    assert "StartTransaction" not in e2e.actions(mark)
    # The authorisation is gone: plugging in now does not start a transaction.
    plug_mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=plug_mark)
    evse = await e2e.evse()
    assert evse["transaction_id"] is None and evse["pwm_duty_percent"] == 100.0
    # A new badge still works (and shows nothing was left over from the first).
    await e2e.sim_ok("tap", "TAG-OK2")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=plug_mark)
    assert start.payload["idTag"] == "TAG-OK2"
    assert [r.payload["idTag"] for r in csms.received if r.action == "StartTransaction"] == ["TAG-OK2"]


async def test_unplug_while_charging_stops_ev_disconnected(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    tx_id, start = await e2e.start_transaction()
    mark = csms.mark()
    await e2e.sim_ok("unplug", 1)
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == "EVDisconnected"
    assert stop.payload["meterStop"] >= start["meterStart"]
    await e2e.wait_status(1, "Available", since=mark)
    assert "Finishing" not in e2e.statuses(1, mark)
    evse = await e2e.wait_evse(lambda e: e["connector_status"] == "Available")
    assert evse["contactor_closed"] is False
    assert evse["contactor_feedback_closed"] is False
    assert evse["locked"] is False
    assert evse["transaction_id"] is None


@pytest.mark.parametrize("tag", ["TAG-BLOCKED", "TAG-INVALID", "UNKNOWN-TAG"])
async def test_refused_tag_does_not_start(ready: E2E, tag: str) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    await e2e.sim_ok("tap", tag)
    auth = await csms.wait_for("Authorize", timeout=WAIT, since=mark)
    assert auth.payload == {"idTag": tag}
    await eventually(lambda: _badges_read(e2e), what="the badge to be read")
    evse = await e2e.evse()
    assert evse["pwm_duty_percent"] == 100.0
    assert evse["contactor_closed"] is False
    assert evse["transaction_id"] is None
    assert evse["connector_status"] == "Preparing"
    # A valid badge afterwards starts a transaction, and it is the only one.
    await e2e.sim_ok("tap", "TAG-OK")
    await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    starts = csms.messages("StartTransaction")
    assert [s["idTag"] for s in starts] == ["TAG-OK"]
    assert set(e2e.statuses(1, mark)) <= {"Preparing", "SuspendedEV"}
