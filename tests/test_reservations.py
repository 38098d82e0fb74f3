"""Reservations in the station's policy, on the simulated two-connector board with a manual clock
and a fake CSMS link: the ReserveNow answers, the Reserved status, who may start on a reserved
connector (the holder, or its group by parentIdTag), connector-0 reservations, replacement,
cancellation, expiry, the end on use or on a fault, and persistence across a restart."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from station_rig import FakeLink, StationRig

from chargepoint.link import AuthDecision
from chargepoint.reservations import Reservation
from chargepoint.status import ConnectorStatus
from hal.types import FaultKind

START = datetime(2026, 3, 1, 10, 0, 0, tzinfo=timezone.utc)

CONFIG = """\
[chargepoint]
id = "CP-RES"
vendor = "Borne"
model = "Test"

[ocpp]
version = "1.6"
csms_url = "ws://127.0.0.1:9/ocpp"

[board]
kind = "sim"

[storage]
path = "borne.db"

[[evse]]
id = 1
max_current_a = 16
phases = 3

[[evse.connector]]
id = 1

[[evse]]
id = 2
max_current_a = 16
phases = 3

[[evse.connector]]
id = 1

[auth]
whitelist = ["TECH-1"]

[sim]
control_socket = "sim.sock"
"""


DECISIONS = {
    "HOLDER": AuthDecision("Accepted"),
    "OTHER": AuthDecision("Accepted"),
    "FLEET-CAR": AuthDecision("Accepted", parent_id_tag="FLEET"),
    "STRANGER-CAR": AuthDecision("Accepted", parent_id_tag="ELSEWHERE"),
}


class Rig(StationRig):
    def __init__(self, tmp: Path, link: FakeLink, start: datetime = START) -> None:
        super().__init__(tmp, CONFIG, link, start)

    async def stop(self) -> None:
        await super().stop()
        for task in list(self.station._reservation_timers.values()):
            task.cancel()

    def reserve(self, reservation_id: int, connector_id: int, id_tag: str = "HOLDER",
                parent_id_tag: str | None = None, minutes: float = 30) -> str:
        expiry = self.clock.now() + timedelta(minutes=minutes)
        return self.station.reserve_now(Reservation(reservation_id, connector_id, id_tag, parent_id_tag, expiry))

    def starts(self) -> list[dict]:
        rows = self.c.store._db.execute("SELECT payload FROM outbox WHERE kind = 'start' ORDER BY seq").fetchall()
        return [json.loads(r["payload"]) for r in rows]

    def stored_ids(self) -> list[int]:
        return [r.reservation_id for r in self.c.store.load_reservations()]


@pytest.fixture
async def rig(tmp_path: Path):
    r = Rig(tmp_path, FakeLink(dict(DECISIONS)))
    await r.start()
    yield r
    await r.stop()


# ---- answers to ReserveNow ----------------------------------------------------------------------


async def test_reserved_connector_is_reported_reserved_and_stored(rig: Rig) -> None:
    assert rig.reserve(11, 1) == "Accepted"
    await rig.run(0.1)
    assert rig.status(1) is ConnectorStatus.RESERVED
    assert rig.status(2) is ConnectorStatus.AVAILABLE
    assert (1, ConnectorStatus.RESERVED) in rig.link.statuses
    assert rig.stored_ids() == [11]


async def test_occupied_when_in_use_or_already_reserved(rig: Rig) -> None:
    rig.sim.plug(1)
    await rig.run(0.1)
    assert rig.reserve(1, 1) == "Occupied"  # a cable is in: Preparing
    assert rig.reserve(2, 2, id_tag="OTHER") == "Accepted"
    assert rig.reserve(3, 2, id_tag="HOLDER") == "Occupied"  # reserved for another tag
    assert rig.reserve(4, 2, id_tag="OTHER") == "Occupied"  # ... or for the same one
    assert rig.stored_ids() == [2]


async def test_faulted_and_unavailable_connectors_refuse(rig: Rig) -> None:
    rig.c.controllers[1].set_external_fault(FaultKind.OVER_TEMPERATURE, True)
    assert rig.station.change_availability(2, operative=False) == "Accepted"
    await rig.run(0.1)
    assert rig.reserve(1, 1) == "Faulted"
    assert rig.reserve(2, 2) == "Unavailable"
    # Connector 0: no connector can take it; one faulted and one unavailable reads Unavailable.
    assert rig.reserve(3, 0) == "Unavailable"
    assert rig.station.change_availability(2, operative=True) == "Accepted"
    rig.c.controllers[2].set_external_fault(FaultKind.OVER_TEMPERATURE, True)
    await rig.run(0.1)
    assert rig.reserve(4, 0) == "Faulted"
    assert rig.stored_ids() == []


async def test_unknown_connector_and_past_expiry_are_rejected(rig: Rig) -> None:
    assert rig.reserve(1, 3) == "Rejected"
    assert rig.reserve(2, -1) == "Rejected"
    assert rig.reserve(3, 1, minutes=-1) == "Rejected"
    assert rig.stored_ids() == []


# ---- who may start on a reserved connector ----------------------------------------------------------


async def test_only_the_holder_starts_and_the_start_ends_the_reservation(rig: Rig) -> None:
    assert rig.reserve(21, 1) == "Accepted"
    rig.sim.plug(1)
    await rig.run(0.1)
    await rig.tap("OTHER", evse_id=1)
    await rig.run(0.1)
    assert rig.station.sessions[1].tx is None
    assert rig.starts() == []
    await rig.tap("holder", evse_id=1)  # tags compare case-insensitively
    await rig.run(0.1)
    assert [(s["id_tag"], s["connector_id"], s.get("reservation_id")) for s in rig.starts()] == [("holder", 1, 21)]
    assert rig.station.reservations.all() == []
    assert rig.stored_ids() == []


async def test_another_tag_goes_to_the_free_connector(rig: Rig) -> None:
    assert rig.reserve(22, 1) == "Accepted"
    await rig.tap("OTHER")  # no connector named: the reserved one is not chosen
    assert rig.station.sessions[1].pending is None
    assert rig.station.sessions[2].pending is not None
    assert rig.status(1) is ConnectorStatus.RESERVED


async def test_the_holder_is_sent_to_its_reserved_connector(rig: Rig) -> None:
    assert rig.reserve(23, 2) == "Accepted"
    await rig.tap("HOLDER")
    assert rig.station.sessions[1].pending is None
    assert rig.station.sessions[2].pending is not None
    rig.sim.plug(2)
    await rig.run(0.1)
    assert [s.get("reservation_id") for s in rig.starts()] == [23]


async def test_a_tag_of_the_reservations_group_may_start(rig: Rig) -> None:
    assert rig.reserve(31, 1, id_tag="FLEET-BOSS", parent_id_tag="FLEET") == "Accepted"
    rig.sim.plug(1)
    await rig.run(0.1)
    await rig.tap("STRANGER-CAR", evse_id=1)
    assert rig.station.sessions[1].pending is None and rig.station.sessions[1].tx is None
    await rig.tap("FLEET-CAR", evse_id=1)
    await rig.run(0.1)
    assert [(s["id_tag"], s.get("reservation_id")) for s in rig.starts()] == [("FLEET-CAR", 31)]


async def test_the_group_of_a_tag_known_locally_comes_from_the_cache(tmp_path: Path) -> None:
    """Offline, the tag's parentIdTag is looked up in the local list or the cache."""
    r = Rig(tmp_path, FakeLink(online=False))
    r.c.settings.change("AllowOfflineTxForUnknownId", "true")
    r.c.store.cache_put("CACHED-CAR", "Accepted", None, "FLEET")
    await r.start()
    try:
        assert r.reserve(32, 1, id_tag="FLEET-BOSS", parent_id_tag="FLEET") == "Accepted"
        await r.tap("UNKNOWN-CAR", evse_id=1)  # accepted offline, but not of the group
        assert r.station.sessions[1].pending is None
        await r.tap("CACHED-CAR", evse_id=1)
        assert r.station.sessions[1].pending is not None
        assert r.station.sessions[1].pending.reservation_id == 32
    finally:
        await r.stop()


async def test_a_remote_start_without_authorize_asks_the_csms_for_the_group(rig: Rig) -> None:
    rig.c.settings.change("AuthorizeRemoteTxRequests", "false")
    assert rig.reserve(33, 1, id_tag="FLEET-BOSS", parent_id_tag="FLEET") == "Accepted"
    assert rig.station.remote_start("FLEET-CAR", 1) is True
    await rig.run(0.2)
    # The remote start is not an answer about the tag: its group came from an Authorize.
    assert rig.link.authorized == ["FLEET-CAR"]
    assert rig.station.sessions[1].pending is not None
    assert rig.station.sessions[1].pending.reservation_id == 33


async def test_remote_start_on_a_reserved_connector_follows_the_tag_rule(rig: Rig) -> None:
    assert rig.reserve(34, 1) == "Accepted"
    assert rig.station.remote_start("OTHER", 1) is False
    assert rig.station.remote_start("HOLDER", 1) is True
    rig.sim.plug(1)
    await rig.run(0.2)
    assert [(s["id_tag"], s.get("reservation_id")) for s in rig.starts()] == [("HOLDER", 34)]


# ---- connector 0 ------------------------------------------------------------------------------


async def test_connector_zero_keeps_one_connector_for_the_holder(rig: Rig) -> None:
    assert rig.reserve(41, 0) == "Accepted"
    await rig.run(0.1)
    # Two free connectors for one reservation: neither is held yet.
    assert (rig.status(1), rig.status(2)) == (ConnectorStatus.AVAILABLE, ConnectorStatus.AVAILABLE)
    await rig.tap("OTHER", evse_id=1)
    assert rig.station.sessions[1].pending is not None
    await rig.run(0.1)
    # Now the last free connector is the holder's.
    assert rig.status(2) is ConnectorStatus.RESERVED
    await rig.tap("OTHER2", evse_id=2)
    assert rig.station.sessions[2].pending is None
    assert rig.reserve(42, 0, id_tag="OTHER") == "Occupied"
    assert rig.reserve(43, 2, id_tag="OTHER") == "Occupied"
    await rig.tap("HOLDER", evse_id=2)
    rig.sim.plug(2)
    await rig.run(0.1)
    assert [(s["id_tag"], s.get("reservation_id")) for s in rig.starts()] == [("HOLDER", 41)]
    assert rig.stored_ids() == []


async def test_connector_zero_is_used_up_on_any_connector(rig: Rig) -> None:
    assert rig.reserve(44, 0) == "Accepted"
    rig.sim.plug(2)
    await rig.run(0.1)
    await rig.tap("HOLDER")
    await rig.run(0.1)
    assert [(s["connector_id"], s.get("reservation_id")) for s in rig.starts()] == [(2, 44)]
    assert rig.station.reservations.all() == []
    assert rig.status(1) is ConnectorStatus.AVAILABLE


# ---- replacement, cancellation, expiry, out of service ---------------------------------------------


async def test_same_id_replaces_the_reservation(rig: Rig) -> None:
    assert rig.reserve(51, 1, minutes=10) == "Accepted"
    assert rig.reserve(51, 2, minutes=30) == "Accepted"
    await rig.run(0.1)
    assert (rig.status(1), rig.status(2)) == (ConnectorStatus.AVAILABLE, ConnectorStatus.RESERVED)
    assert rig.stored_ids() == [51]
    await rig.run(15 * 60, step=1.0)  # past the first expiry: its timer must not end the new one
    assert rig.status(2) is ConnectorStatus.RESERVED
    await rig.run(16 * 60, step=1.0)
    assert rig.status(2) is ConnectorStatus.AVAILABLE


async def test_a_replacement_that_cannot_be_made_keeps_the_old_one(rig: Rig) -> None:
    assert rig.reserve(52, 1) == "Accepted"
    rig.sim.plug(2)
    await rig.run(0.1)
    assert rig.reserve(52, 2) == "Occupied"
    assert [(r.reservation_id, r.connector_id) for r in rig.station.reservations.all()] == [(52, 1)]


async def test_cancel_returns_the_connector_to_available(rig: Rig) -> None:
    assert rig.reserve(61, 1) == "Accepted"
    await rig.run(0.1)
    assert rig.station.cancel_reservation(61) is True
    await rig.run(0.1)
    assert rig.status(1) is ConnectorStatus.AVAILABLE
    assert rig.link.statuses[-1] == (1, ConnectorStatus.AVAILABLE)
    assert rig.station.cancel_reservation(61) is False
    assert rig.stored_ids() == []


async def test_expiry_returns_the_connector_to_available_on_time(rig: Rig) -> None:
    assert rig.reserve(71, 1, minutes=10) == "Accepted"
    await rig.run(0.1)
    await rig.run(10 * 60 - 1, step=0.5)
    assert rig.status(1) is ConnectorStatus.RESERVED
    await rig.run(1.5, step=0.5)
    assert rig.status(1) is ConnectorStatus.AVAILABLE
    assert rig.link.statuses[-1] == (1, ConnectorStatus.AVAILABLE)
    assert rig.stored_ids() == []
    await rig.tap("OTHER", evse_id=1)
    assert rig.station.sessions[1].pending is not None


async def test_a_fault_ends_the_reservation_of_its_connector(rig: Rig) -> None:
    assert rig.reserve(81, 1) == "Accepted"
    assert rig.reserve(82, 2, id_tag="OTHER") == "Accepted"
    rig.c.controllers[1].set_external_fault(FaultKind.OVER_TEMPERATURE, True)
    await rig.run(0.5)
    assert rig.status(1) is ConnectorStatus.FAULTED
    assert rig.stored_ids() == [82]
    rig.c.controllers[1].set_external_fault(FaultKind.OVER_TEMPERATURE, False)
    await rig.run(0.5)
    assert rig.status(1) is ConnectorStatus.AVAILABLE


async def test_unavailable_ends_the_reservation(rig: Rig) -> None:
    assert rig.reserve(83, 0) == "Accepted"
    assert rig.reserve(84, 1, id_tag="OTHER") == "Accepted"
    assert rig.station.change_availability(1, operative=False) == "Accepted"
    assert rig.stored_ids() == [83]  # connector 0 lives while a connector is in service
    assert rig.station.change_availability(0, operative=False) == "Accepted"
    assert rig.stored_ids() == []


# ---- restarts ------------------------------------------------------------------------------------


async def test_a_reservation_survives_a_restart_and_still_expires(tmp_path: Path) -> None:
    first = Rig(tmp_path, FakeLink(dict(DECISIONS)))
    await first.start()
    assert first.reserve(91, 1, minutes=10) == "Accepted"
    assert first.reserve(92, 2, id_tag="OTHER", minutes=60) == "Accepted"
    await first.stop()
    first.c.store.close()

    second = Rig(tmp_path, FakeLink(dict(DECISIONS)), start=START + timedelta(minutes=5))
    await second.start()
    try:
        assert second.status(1) is ConnectorStatus.RESERVED
        await second.tap("OTHER", evse_id=1)
        assert second.station.sessions[1].pending is None
        await second.run(5 * 60 + 1, step=1.0)
        assert second.status(1) is ConnectorStatus.AVAILABLE
        assert second.status(2) is ConnectorStatus.RESERVED
        assert second.stored_ids() == [92]
    finally:
        await second.stop()


async def test_reservations_expired_while_down_are_dropped_at_start(tmp_path: Path) -> None:
    first = Rig(tmp_path, FakeLink())
    await first.start()
    assert first.reserve(93, 1, minutes=10) == "Accepted"
    assert first.reserve(94, 2, minutes=60) == "Accepted"
    await first.stop()
    first.c.store.close()

    second = Rig(tmp_path, FakeLink(), start=START + timedelta(minutes=30))
    await second.start()
    try:
        assert [r.reservation_id for r in second.station.reservations.all()] == [94]
        assert second.stored_ids() == [94]
        assert (second.status(1), second.status(2)) == (ConnectorStatus.AVAILABLE, ConnectorStatus.RESERVED)
    finally:
        await second.stop()


def test_recovery_of_a_damaged_database_keeps_the_reservations(tmp_path: Path) -> None:
    from chargepoint.store import Store, StoredReservation
    from chargepoint.store_recovery import recover

    path = tmp_path / "borne.db"
    store = Store(path)
    store.save_reservation(StoredReservation(95, 0, "HOLDER", "FLEET", "2026-03-01T11:00:00.000Z"))
    store.close()
    report = recover(path)
    assert report.rows["reservations"] == 1
    again = Store(path)
    try:
        assert again.load_reservations() == [StoredReservation(95, 0, "HOLDER", "FLEET", "2026-03-01T11:00:00.000Z")]
    finally:
        again.close()
