"""ReserveNow and CancelReservation against the running controller: the Reserved status, a
reserved connector refusing other tags, the holder's StartTransaction carrying the
reservationId, expiry, cancellation, connector 0, and a reservation kept across a restart."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from ocpp.v16 import call

from csms import TestCsms, assert_utc_z
from e2e_harness import TIME_SCALE, WAIT, E2E, eventually

pytestmark = pytest.mark.timeout(90)

REFUSED_LOG = "no connector can take a new session"


def cp_now(csms: TestCsms) -> datetime:
    """The controller's clock now, from its latest timestamp: its time runs TIME_SCALE times
    faster than the test's."""
    record = next(r for r in reversed(csms.received) if "timestamp" in r.payload)
    sent = assert_utc_z(record.payload["timestamp"])
    return sent + (datetime.now(timezone.utc) - record.at) * TIME_SCALE


def expiry_in(csms: TestCsms, seconds: float) -> str:
    """An expiryDate `seconds` ahead on the controller's clock."""
    moment = cp_now(csms) + timedelta(seconds=seconds)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


async def reserve(e2e: E2E, reservation_id: int, connector_id: int = 1, id_tag: str = "TAG-OK",
                  seconds: float = 3600, parent_id_tag: str | None = None) -> str:
    result = await e2e.csms.call(call.ReserveNow(
        connector_id=connector_id, expiry_date=expiry_in(e2e.csms, seconds), id_tag=id_tag,
        reservation_id=reservation_id, parent_id_tag=parent_id_tag), timeout=WAIT)
    return result.status


async def refused_tap(e2e: E2E, tag: str) -> None:
    """Tap a tag the controller must turn away, and wait until it has."""
    before = e2e.cp.log().count(REFUSED_LOG)
    await e2e.sim_ok("tap", tag)
    await eventually(lambda: e2e.cp.log().count(REFUSED_LOG) > before, what=f"{tag} to be turned away")


async def test_reserved_connector_refuses_others_and_the_holder_starts(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 5) == "Accepted"
    await e2e.wait_status(1, "Reserved", since=mark)
    assert (await e2e.evse())["connector_status"] == "Reserved"
    await e2e.sim_ok("plug", 1)
    await e2e.wait_status(1, "Preparing", since=mark)
    await refused_tap(e2e, "TAG-OK2")
    await e2e.sim_ok("tap", "TAG-OK")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert start.payload["idTag"] == "TAG-OK"
    assert start.payload["reservationId"] == 5
    assert start.payload["connectorId"] == 1
    assert [p["idTag"] for p in csms.messages("Authorize")] == ["TAG-OK"]
    # The reservation is used up: cancelling it finds nothing.
    result = await csms.call(call.CancelReservation(reservation_id=5), timeout=WAIT)
    assert result.status == "Rejected"
    assert len(csms.messages("StartTransaction")) == 1


async def test_remote_start_on_a_reserved_connector(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 6) == "Accepted"
    await e2e.wait_status(1, "Reserved", since=mark)
    other = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK2", connector_id=1), timeout=WAIT)
    assert other.status == "Rejected"
    other_any = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK2"), timeout=WAIT)
    assert other_any.status == "Rejected"
    holder = await csms.call(call.RemoteStartTransaction(id_tag="TAG-OK", connector_id=1), timeout=WAIT)
    assert holder.status == "Accepted"
    await e2e.wait_status(1, "Preparing", since=mark)
    await e2e.sim_ok("plug", 1)
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("TAG-OK", 6)
    assert [p["idTag"] for p in csms.messages("Authorize")] == ["TAG-OK"]


async def test_reservation_expires_and_the_connector_is_available(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 7, seconds=30) == "Accepted"  # 3 s of real time
    reserved = await e2e.wait_status(1, "Reserved", since=mark)
    available = await e2e.wait_status(1, "Available", since=mark)
    elapsed = assert_utc_z(available["timestamp"]) - assert_utc_z(reserved["timestamp"])
    assert timedelta(seconds=20) <= elapsed <= timedelta(seconds=40)
    result = await csms.call(call.CancelReservation(reservation_id=7), timeout=WAIT)
    assert result.status == "Rejected"


async def test_cancel_reservation(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 8) == "Accepted"
    await e2e.wait_status(1, "Reserved", since=mark)
    result = await csms.call(call.CancelReservation(reservation_id=8), timeout=WAIT)
    assert result.status == "Accepted"
    await e2e.wait_status(1, "Available", since=mark)
    again = await csms.call(call.CancelReservation(reservation_id=8), timeout=WAIT)
    assert again.status == "Rejected"
    # Free again for anyone.
    tx_id, start = await e2e.start_transaction("TAG-OK2")
    assert "reservationId" not in start


async def test_same_reservation_id_replaces_the_reservation(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 9, id_tag="TAG-OK") == "Accepted"
    await e2e.wait_status(1, "Reserved", since=mark)
    assert await reserve(e2e, 9, id_tag="TAG-OK2") == "Accepted"
    assert await reserve(e2e, 10, id_tag="TAG-OK") == "Occupied"
    await e2e.sim_ok("plug", 1)
    await refused_tap(e2e, "TAG-OK")
    await e2e.sim_ok("tap", "TAG-OK2")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("TAG-OK2", 9)


async def test_answers_when_the_connector_cannot_be_reserved(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await reserve(e2e, 20, connector_id=2) == "Rejected"  # no such connector
    await e2e.start_transaction("TAG-OK")
    assert await reserve(e2e, 21) == "Occupied"
    assert await reserve(e2e, 22, connector_id=0) == "Occupied"
    mark = csms.mark()
    await e2e.sim_ok("tap", "TAG-OK")
    await csms.wait_for("StopTransaction", timeout=WAIT, since=mark)
    await e2e.sim_ok("unplug", 1)
    await e2e.wait_status(1, "Available", since=mark)
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Inoperative"), timeout=WAIT)
    assert result.status == "Accepted"
    await e2e.wait_status(1, "Unavailable", since=mark)
    assert await reserve(e2e, 23) == "Unavailable"
    result = await csms.call(call.ChangeAvailability(connector_id=1, type="Operative"), timeout=WAIT)
    assert result.status == "Accepted"
    await e2e.wait_status(1, "Available", since=mark)
    await e2e.sim_ok("fault", 1, "meter-loss")
    await e2e.wait_status(1, "Faulted", since=mark)
    assert await reserve(e2e, 24) == "Faulted"


async def test_a_fault_ends_the_reservation(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 25) == "Accepted"
    await e2e.wait_status(1, "Reserved", since=mark)
    await e2e.sim_ok("fault", 1, "meter-loss")
    await e2e.wait_status(1, "Faulted", since=mark)
    await e2e.sim_ok("clear", 1, "meter-loss")
    await e2e.wait_status(1, "Available", since=mark)
    result = await csms.call(call.CancelReservation(reservation_id=25), timeout=WAIT)
    assert result.status == "Rejected"


async def test_connector_zero_keeps_the_only_connector_for_the_holder(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    mark = csms.mark()
    assert await reserve(e2e, 30, connector_id=0) == "Accepted"
    # One connector and one connector-0 reservation: that connector is the holder's.
    await e2e.wait_status(1, "Reserved", since=mark)
    assert await reserve(e2e, 31, connector_id=0, id_tag="TAG-OK2") == "Occupied"
    await e2e.sim_ok("plug", 1)
    await refused_tap(e2e, "TAG-OK2")
    await e2e.sim_ok("tap", "TAG-OK")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("TAG-OK", 30)


@pytest.mark.csms(tags={"TAG-OK": "Accepted", "FLEET-CAR": "Accepted", "OTHER-CAR": "Accepted"})
async def test_a_tag_of_the_reserved_group_may_start(e2e: E2E) -> None:
    csms = e2e.csms
    parents = {"FLEET-CAR": "FLEET", "OTHER-CAR": "ELSEWHERE"}
    csms.handlers["Authorize"] = lambda p: {"idTagInfo": {"status": "Accepted", **(
        {"parentIdTag": parents[p["idTag"]]} if p["idTag"] in parents else {})}}
    await e2e.boot()
    mark = csms.mark()
    assert await reserve(e2e, 35, id_tag="TAG-OK", parent_id_tag="FLEET") == "Accepted"
    await e2e.wait_status(1, "Reserved", since=mark)
    await e2e.sim_ok("plug", 1)
    await e2e.sim_ok("tap", "OTHER-CAR")
    await csms.wait_for("Authorize", lambda p: p["idTag"] == "OTHER-CAR", timeout=WAIT, since=mark)
    await eventually(lambda: "reserved for another tag" in e2e.cp.log(), what="OTHER-CAR to be turned away")
    await e2e.sim_ok("tap", "FLEET-CAR")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("FLEET-CAR", 35)


async def test_a_reservation_survives_a_restart(ready: E2E) -> None:
    e2e, csms = ready, ready.csms
    assert await reserve(e2e, 40) == "Accepted"
    await e2e.wait_status(1, "Reserved")
    await e2e.cp.stop()
    e2e.cp.proc = None
    await csms.wait_disconnected(timeout=WAIT)
    mark = csms.mark()
    await e2e.cp.start()
    await e2e.unless_exited(csms.wait_for("BootNotification", timeout=WAIT, since=mark), "BootNotification")
    await e2e.wait_status(1, "Reserved", since=mark)
    await e2e.sim_ok("plug", 1)
    await refused_tap(e2e, "TAG-OK2")
    await e2e.sim_ok("tap", "TAG-OK")
    start = await csms.wait_for("StartTransaction", timeout=WAIT, since=mark)
    assert (start.payload["idTag"], start.payload["reservationId"]) == ("TAG-OK", 40)


async def test_reservation_configuration_keys(ready: E2E) -> None:
    result = await ready.csms.call(call.GetConfiguration(
        key=["ReserveConnectorZeroSupported", "SupportedFeatureProfiles"]), timeout=WAIT)
    keys = {k["key"]: k for k in result.configuration_key}
    assert keys["ReserveConnectorZeroSupported"] == {
        "key": "ReserveConnectorZeroSupported", "readonly": True, "value": "true"}
    assert {"Reservation", "RemoteTrigger"} <= set(keys["SupportedFeatureProfiles"]["value"].split(","))
