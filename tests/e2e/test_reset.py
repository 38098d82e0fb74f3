"""Reset: transactions are stopped with the reset's reason, the process restarts in place (same
PID), boots again, and stored transaction messages reach the CSMS exactly once."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, E2E, eventually

pytestmark = pytest.mark.timeout(60)


async def _reset_and_wait_for_reboot(e2e: E2E, kind: str) -> int:
    csms = e2e.csms
    pid = e2e.cp.pid
    connections = len(csms.connections)
    mark = csms.mark()
    result = await csms.call(call.Reset(type=kind), timeout=WAIT)
    assert result.status == "Accepted"
    await eventually(lambda: len(csms.connections) > connections and csms.connected, what="a new connection")
    await csms.wait_for("BootNotification", timeout=WAIT, since=mark)
    await e2e.wait_status(0, "Available", since=mark)
    await e2e.wait_status(1, "Available", since=mark)
    # Re-executed in place: the same process, still running.
    assert e2e.cp.running and e2e.cp.pid == pid
    return mark


@pytest.mark.parametrize("kind, reason", [("Soft", "SoftReset"), ("Hard", "HardReset")])
async def test_reset_during_transaction(ready: E2E, kind: str, reason: str) -> None:
    e2e, csms = ready, ready.csms
    tx_id, start = await e2e.start_transaction()
    mark = await _reset_and_wait_for_reboot(e2e, kind)
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id
    assert stop.payload["reason"] == reason
    assert stop.payload["meterStop"] >= start["meterStart"]
    # After the restart the outbox is replayed; nothing is sent twice.
    await csms.call(call.GetConfiguration(key=["HeartbeatInterval"]), timeout=WAIT)
    stops = csms.messages("StopTransaction")
    assert len(stops) == 1, stops
    assert len(csms.messages("StartTransaction")) == 1
    assert csms.messages("BootNotification")[-1] == csms.messages("BootNotification")[0]
    assert len(csms.messages("BootNotification")) == 2
    # The new process has a fresh board: no EV, no transaction, contactor open.
    evse = await e2e.evse()
    assert evse["transaction_id"] is None
    assert evse["contactor_closed"] is False
    assert (await e2e.status())["ocpp"]["state"] == "accepted"


@pytest.mark.parametrize("kind", ["Soft", "Hard"])
async def test_reset_when_idle(ready: E2E, kind: str) -> None:
    e2e = ready
    mark = await _reset_and_wait_for_reboot(e2e, kind)
    assert "StopTransaction" not in e2e.actions(mark)
    assert e2e.actions(mark)[0] == "BootNotification"


async def test_charging_works_after_reset(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    first_id, _ = await e2e.start_transaction()
    await _reset_and_wait_for_reboot(e2e, "Soft")
    await csms.wait_for("StopTransaction", timeout=WAIT)
    second_id, start = await e2e.start_transaction("TAG-OK2")
    assert second_id != first_id
    assert start["idTag"] == "TAG-OK2"
