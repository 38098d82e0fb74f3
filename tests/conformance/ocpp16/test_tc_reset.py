"""OCA OCPP 1.6 compliance cases, Charge Point side: hard and soft reset, with and without a
transaction (TC_013_CS … TC_016_CS).

The simulated board restarts with the controller: after a reset no EV is plugged in, so the
connector that had the transaction is reported Available (the cases allow Finishing or Preparing
for a cable still in)."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT, eventually
from oca16 import Station, charging

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def reset(st: Station, kind: str) -> int:
    """Reset.req answered Accepted; returns the position of the reboot's BootNotification."""
    connections, mark = len(st.csms.connections), st.csms.mark()
    result = await st.call(call.Reset(type=kind))
    assert result.status == "Accepted"
    await eventually(lambda: len(st.csms.connections) > connections and st.csms.connected,
                     what="the controller to reconnect after the reset")
    boot = await st.csms.wait_for("BootNotification", timeout=WAIT, since=mark)
    return st.csms.received.index(boot)


async def reset_without_transaction(cp: Station, kind: str) -> None:
    csms, mark = cp.csms, cp.csms.mark()
    assert (await cp.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))).status == "Accepted"
    await cp.wait_status(1, "Unavailable", since=mark)
    before = csms.mark()
    boot = await reset(cp, kind)
    assert boot >= before and "StopTransaction" not in cp.actions(before)
    await cp.wait_status(0, "Unavailable", since=boot)
    await cp.wait_status(1, "Unavailable", since=boot)
    assert "Available" not in cp.statuses(1, boot)
    back = csms.mark()
    assert (await cp.call(call.ChangeAvailability(connector_id=1, type="Operative"))).status == "Accepted"
    await cp.wait_status(1, "Available", since=back)


async def reset_with_transaction(cp: Station, kind: str, reason: str) -> None:
    tx_id, start = await charging(cp)
    csms, mark = cp.csms, cp.csms.mark()
    boot = await reset(cp, kind)
    stop = await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    assert stop.payload["transactionId"] == tx_id and stop.payload["reason"] == reason
    assert stop.payload["meterStop"] >= start.payload["meterStart"]
    stop_at = csms.received.index(stop)
    if stop_at < boot:
        assert "Finishing" in cp.statuses(1, stop_at)[:1], "a stop before the reboot is followed by Finishing"
    await cp.wait_status(0, "Available", since=boot)
    first = next(r.payload for r in csms.received[boot:] if r.action == "StatusNotification"
                 and r.payload["connectorId"] == 1)
    assert first["status"] in ("Finishing", "Preparing", "Available"), first
    await cp.round_trip()
    assert len([r for r in csms.received[mark:] if r.action == "StopTransaction"]) == 1


async def test_tc_013_cs_hard_reset_without_transaction(cp: Station) -> None:
    """TC_013_CS Hard Reset Without transaction.

    Connector set Inoperative (Unavailable); Reset Hard: Accepted, BootNotification, the
    connector still Unavailable after the reboot; Operative again: Available."""
    await reset_without_transaction(cp, "Hard")


async def test_tc_014_cs_soft_reset_without_transaction(cp: Station) -> None:
    """TC_014_CS Soft Reset Without Transaction.

    As TC_013_CS with a soft reset: Accepted, BootNotification, availability kept."""
    await reset_without_transaction(cp, "Soft")


async def test_tc_015_cs_hard_reset_with_transaction(cp: Station) -> None:
    """TC_015_CS Hard Reset With Transaction.

    Charging; Reset Hard: Accepted; StopTransaction with reason HardReset (before or after the
    BootNotification; before it, Finishing follows); after the reboot StatusNotifications for
    connector 0 and the connector."""
    await reset_with_transaction(cp, "Hard", "HardReset")


async def test_tc_016_cs_soft_reset_with_transaction(cp: Station) -> None:
    """TC_016_CS Soft Reset With Transaction.

    As TC_015_CS with a soft reset: StopTransaction with reason SoftReset."""
    await reset_with_transaction(cp, "Soft", "SoftReset")
