"""What a firmware update asks of the station: charging goes on, idle connectors are held
Unavailable (not persisted) until the update releases them, and a connector freed meanwhile
joins the hold."""
from __future__ import annotations

from pathlib import Path

from chargepoint.status import ConnectorStatus
from test_station import FakeLink, Rig


async def test_hold_spares_charging_and_takes_freed_connectors(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakeLink(decisions={"TAG-1": "Accepted"}))
    await rig.start()
    station = rig.c.station
    await rig.start_charging()
    assert station.transactions_running()
    station.hold_for_update(True)
    await rig.run(0.1)
    assert rig.status() is ConnectorStatus.CHARGING  # charging is never interrupted
    rig.sim.unplug(1)
    await rig.run(0.5)
    assert not station.transactions_running()
    assert rig.status() is ConnectorStatus.AVAILABLE
    station.hold_for_update(True)  # the update asks again while it waits
    await rig.run(0.1)
    assert rig.status() is ConnectorStatus.UNAVAILABLE
    assert (0, ConnectorStatus.UNAVAILABLE) in rig.link.statuses
    assert rig.c.store.load_availability() == {}  # not persisted: a restart forgets the hold
    await rig.tap("TAG-1")
    await rig.run(0.1)
    assert station.sessions[1].pending is None  # no new session on a held connector
    station.hold_for_update(False)
    await rig.run(0.1)
    assert rig.status() is ConnectorStatus.AVAILABLE
    await rig.stop()


async def test_release_restores_what_the_csms_set(tmp_path: Path) -> None:
    rig = Rig(tmp_path, FakeLink())
    await rig.start()
    station = rig.c.station
    assert station.change_availability(1, operative=False) == "Accepted"
    station.hold_for_update(True)
    station.hold_for_update(False)
    await rig.run(0.1)
    assert rig.status() is ConnectorStatus.UNAVAILABLE  # it was not the update's to give back
    await rig.stop()
