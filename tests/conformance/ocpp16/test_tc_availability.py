"""OCA OCPP 1.6 compliance cases, Charge Point side: availability — the document's reusable
states SetConnectorUnavailable and SetChargePointUnavailable, ChangeAvailability during a
transaction, and TC_034_CS (Power Failure with Unavailable Status)."""
from __future__ import annotations

import pytest
from ocpp.v16 import call

from e2e_harness import WAIT
from oca16 import Station, charging

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]


async def change(st: Station, connector_id: int, kind: str) -> str:
    return str((await st.call(call.ChangeAvailability(connector_id=connector_id, type=kind))).status)


async def test_rs_set_connector_unavailable(cp: Station) -> None:
    """Reusable state SetConnectorUnavailable (used by TC_046_1_CS, TC_053_CS and others).

    ChangeAvailability Inoperative for the connector: Accepted, StatusNotification Unavailable;
    Operative again: Accepted, Available."""
    mark = cp.csms.mark()
    assert await change(cp, 1, "Inoperative") == "Accepted"
    await cp.wait_status(1, "Unavailable", since=mark)
    back = cp.csms.mark()
    assert await change(cp, 1, "Operative") == "Accepted"
    await cp.wait_status(1, "Available", since=back)


async def test_rs_set_charge_point_unavailable(cp: Station) -> None:
    """Reusable state SetChargePointUnavailable (used by TC_050_3_CS).

    ChangeAvailability Inoperative for connector 0: Accepted, connector 0 and every connector
    Unavailable; Operative again: Available."""
    mark = cp.csms.mark()
    assert await change(cp, 0, "Inoperative") == "Accepted"
    await cp.wait_status(0, "Unavailable", since=mark)
    await cp.wait_status(1, "Unavailable", since=mark)
    back = cp.csms.mark()
    assert await change(cp, 0, "Operative") == "Accepted"
    await cp.wait_status(0, "Available", since=back)
    await cp.wait_status(1, "Available", since=back)


async def test_change_availability_scheduled_while_charging(cp: Station) -> None:
    """ChangeAvailability during a transaction (OCPP 1.6 §5.2; no OCA 1.6 case of its own).

    Charging; Inoperative for the connector: Scheduled, the transaction goes on; once it has
    ended, StatusNotification Unavailable."""
    tx_id, _ = await charging(cp)
    mark = cp.csms.mark()
    assert await change(cp, 1, "Inoperative") == "Scheduled"
    await cp.round_trip()
    assert "StopTransaction" not in cp.actions(mark) and cp.statuses(1, mark) == []
    assert (await cp.call(call.RemoteStopTransaction(transaction_id=tx_id))).status == "Accepted"
    await cp.csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await cp.wait_status(1, "Unavailable", since=mark)


async def test_tc_034_cs_power_failure_with_unavailable_status(cp: Station) -> None:
    """TC_034_CS Power Failure with Unavailable Status.

    ChangeAvailability Inoperative for connector 0: Accepted, Unavailable for connector 0 and
    every connector; the power goes and comes back: BootNotification, and every connector is
    still reported Unavailable."""
    mark = cp.csms.mark()
    assert await change(cp, 0, "Inoperative") == "Accepted"
    await cp.wait_status(0, "Unavailable", since=mark)
    await cp.wait_status(1, "Unavailable", since=mark)
    boot = await cp.restart(kill=True)
    await cp.wait_status(0, "Unavailable", since=boot)
    await cp.wait_status(1, "Unavailable", since=boot)
    assert "Available" not in cp.statuses(1, boot) + cp.statuses(0, boot)
