"""OCA OCPP 1.6 compliance cases, Charge Point side: reservations (TC_046_1_CS … TC_053_CS).

TC_048_4_CS and TC_050_4_CS (Rejected) are for charge points configured to refuse reservations
(ReserveConnectorZeroSupported false for TC_050_4_CS); Borne takes them."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from ocpp.v16 import call

from e2e_harness import TAGS, WAIT, eventually
from oca16 import Station, authorized, charging, stop_and_unplug

pytestmark = [pytest.mark.asyncio(loop_scope="module"), pytest.mark.timeout(60)]

CSMS_KWARGS = {"tags": {**TAGS, "FLEET-1": "Accepted", "FLEET-2": "Accepted"}}


async def badges_read(st: Station) -> bool:
    return (await st.status())["pending_badges"] == 0


@contextmanager
def fleet(st: Station) -> Iterator[None]:
    """FLEET-1 and FLEET-2 belong to the group FLEET (parentIdTag in Authorize.conf)."""
    csms = st.csms
    saved = csms.handlers["Authorize"]

    def answer(p: dict[str, Any]) -> dict[str, Any]:
        info = csms.id_tag_info(p["idTag"])
        return {"idTagInfo": {**info, "parentIdTag": "FLEET"} if p["idTag"].startswith("FLEET-") else info}
    csms.handlers["Authorize"] = answer
    try:
        yield
    finally:
        csms.handlers["Authorize"] = saved


async def test_tc_046_1_cs_reservation_of_a_connector_local_start_transaction(cp: Station) -> None:
    """TC_046_1_CS Reservation of a Connector - Local start transaction.

    ReserveNow: Accepted, Reserved; another tag presented: no Authorize.req; the reserved tag:
    Preparing; the cable: StartTransaction with the reservationId, then Charging."""
    csms, mark = cp.csms, cp.csms.mark()
    assert await cp.reserve(461) == "Accepted"
    await cp.wait_status(1, "Reserved", since=mark)
    other = csms.mark()
    await cp.sim_ok("tap", "TAG-OK2")
    await eventually(lambda: badges_read(cp), what="the other badge to be handled")
    await cp.round_trip()
    assert "Authorize" not in cp.actions(other)
    await cp.sim_ok("tap", "TAG-OK")
    await cp.wait_status(1, "Preparing", since=other)
    await cp.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload.get("reservationId")) == ("TAG-OK", 461)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)


async def test_tc_046_2_cs_reservation_of_a_connector_remote_start_transaction(cp: Station) -> None:
    """TC_046_2_CS Reservation of a Connector - Remote start transaction.

    ReserveNow: Accepted, Reserved; Charging started remotely for the reserved tag: the
    StartTransaction carries the reservation's idTag and reservationId."""
    csms, mark = cp.csms, cp.csms.mark()
    assert await cp.reserve(462) == "Accepted"
    await cp.wait_status(1, "Reserved", since=mark)
    assert (await cp.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1))).status == "Accepted"
    await cp.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload.get("reservationId")) == ("TAG-OK", 462)
    await cp.sim_ok("ev-state", 1, "C")
    await cp.wait_status(1, "Charging", since=mark)


async def test_tc_047_cs_reservation_of_a_connector_expire(cp: Station) -> None:
    """TC_047_CS Reservation of a Connector - Expire.

    ReserveNow with an expiryDate soon: Accepted, Reserved, and Available once it has passed."""
    mark = cp.csms.mark()
    assert await cp.reserve(47, seconds=10) == "Accepted"
    await cp.wait_status(1, "Reserved", since=mark)
    await cp.wait_status(1, "Available", since=mark)
    assert cp.statuses(1, mark) == ["Reserved", "Available"]


async def test_tc_048_1_cs_reservation_of_a_connector_faulted(cp: Station) -> None:
    """TC_048_1_CS Reservation of a Connector - Faulted.

    The connector Faulted: ReserveNow answered Faulted."""
    mark = cp.csms.mark()
    await cp.sim_ok("fault", 1, "meter-loss")
    await cp.wait_status(1, "Faulted", since=mark)
    assert await cp.reserve(481) == "Faulted"


async def test_tc_048_2_cs_reservation_of_a_connector_occupied(cp: Station) -> None:
    """TC_048_2_CS Reservation of a Connector - Occupied.

    Reusable state SetConnectorOccupied (cable in, Preparing): ReserveNow answered Occupied."""
    mark = cp.csms.mark()
    await cp.sim_ok("plug", 1)
    await cp.wait_status(1, "Preparing", since=mark)
    assert await cp.reserve(482) == "Occupied"


async def test_tc_048_3_cs_reservation_of_a_connector_unavailable(cp: Station) -> None:
    """TC_048_3_CS Reservation of a Connector - Unavailable.

    The connector Inoperative (Unavailable): ReserveNow answered Unavailable."""
    mark = cp.csms.mark()
    assert (await cp.call(call.ChangeAvailability(connector_id=1, type="Inoperative"))).status == "Accepted"
    await cp.wait_status(1, "Unavailable", since=mark)
    assert await cp.reserve(483) == "Unavailable"


async def test_tc_049_cs_reservation_of_a_charge_point_transaction(cp: Station) -> None:
    """TC_049_CS Reservation of a Charge Point - Transaction.

    ReserveNow for connector 0: Accepted, Reserved (one connector); another tag cannot start;
    the reserved tag starts on the connector with the reservationId."""
    csms, mark = cp.csms, cp.csms.mark()
    assert await cp.reserve(49, connector_id=0) == "Accepted"
    await cp.wait_status(1, "Reserved", since=mark)
    await cp.sim_ok("plug", 1)
    await cp.sim_ok("tap", "TAG-OK2")
    await eventually(lambda: badges_read(cp), what="the other badge to be handled")
    await cp.round_trip()
    assert "StartTransaction" not in cp.actions(mark)
    await cp.sim_ok("tap", "TAG-OK")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload.get("reservationId")) == ("TAG-OK", 49)


async def test_tc_050_1_cs_reservation_of_a_charge_point_faulted(cp: Station) -> None:
    """TC_050_1_CS Reservation of a Charge Point - Faulted.

    Every connector Faulted: ReserveNow for connector 0 answered Faulted."""
    mark = cp.csms.mark()
    await cp.sim_ok("fault", 1, "meter-loss")
    await cp.wait_status(1, "Faulted", since=mark)
    assert await cp.reserve(501, connector_id=0) == "Faulted"


async def test_tc_050_2_cs_reservation_of_a_charge_point_occupied(cp: Station) -> None:
    """TC_050_2_CS Reservation of a Charge Point - Occupied.

    Every connector in use (Charging): ReserveNow for connector 0 answered Occupied."""
    tx_id, _ = await charging(cp)
    assert await cp.reserve(502, connector_id=0) == "Occupied"
    await stop_and_unplug(cp, tx_id)


async def test_tc_050_3_cs_reservation_of_a_charge_point_unavailable(cp: Station) -> None:
    """TC_050_3_CS Reservation of a Charge Point - Unavailable.

    Reusable state SetChargePointUnavailable: ReserveNow for connector 0 answered Unavailable."""
    mark = cp.csms.mark()
    assert (await cp.call(call.ChangeAvailability(connector_id=0, type="Inoperative"))).status == "Accepted"
    await cp.wait_status(1, "Unavailable", since=mark)
    assert await cp.reserve(503, connector_id=0) == "Unavailable"


async def test_tc_051_cs_cancel_reservation(cp: Station) -> None:
    """TC_051_CS Cancel Reservation.

    Reserved; CancelReservation with its id: Accepted, and the connector Available."""
    mark = cp.csms.mark()
    assert await cp.reserve(51) == "Accepted"
    await cp.wait_status(1, "Reserved", since=mark)
    assert (await cp.call(call.CancelReservation(reservation_id=51))).status == "Accepted"
    await cp.wait_status(1, "Available", since=mark)


async def test_tc_052_cs_cancel_reservation_rejected(cp: Station) -> None:
    """TC_052_CS Cancel Reservation - Rejected.

    Reserved; CancelReservation with another id: Rejected, the reservation kept."""
    mark = cp.csms.mark()
    assert await cp.reserve(52) == "Accepted"
    await cp.wait_status(1, "Reserved", since=mark)
    assert (await cp.call(call.CancelReservation(reservation_id=5200))).status == "Rejected"
    await cp.round_trip()
    assert cp.statuses(1, mark) == ["Reserved"]
    assert (await cp.evse())["connector_status"] == "Reserved"


async def test_tc_053_cs_use_a_reserved_connector_with_parent_idtag(cp: Station) -> None:
    """TC_053_CS Use a reserved Connector with parentIdTag.

    ReserveNow for FLEET-1 with parentIdTag FLEET: Accepted, Reserved; Authorized with FLEET-2
    (same parent), the cable: StartTransaction with the reservationId, then Charging."""
    with fleet(cp):
        csms, mark = cp.csms, cp.csms.mark()
        assert await cp.reserve(53, id_tag="FLEET-1", parent_id_tag="FLEET") == "Accepted"
        await cp.wait_status(1, "Reserved", since=mark)
        await authorized(cp, "FLEET-2")
        await cp.sim_ok("plug", 1)
        start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
        assert (start.payload["idTag"], start.payload.get("reservationId")) == ("FLEET-2", 53)
        await cp.sim_ok("ev-state", 1, "C")
        await cp.wait_status(1, "Charging", since=mark)
