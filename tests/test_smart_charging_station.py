"""Smart charging in the running station, on the simulated board with a manual clock: profiles
reach the EVSE's offer before the first PWM, change at schedule boundaries by a timer, end with
their transaction, come with a remote start, pause the EV below 6 A, are shared by the charge
point's maximum, and survive a restart."""
from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Coroutine
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
from station_rig import FakeLink, StationRig

from chargepoint.evse.events import EvseEvent, PilotChanged
from chargepoint.evse.iec61851 import current_for_duty
from chargepoint.smart_charging import Purpose, RateUnit
from chargepoint.smart_charging.payload import profile_from_ocpp
from chargepoint.status import ConnectorStatus
from hal.clock import ManualClock
from hal.types import IdToken, PilotMode
from smart_charging_helpers import payload

START = datetime(2026, 3, 2, 11, 59, 0, tzinfo=timezone.utc)

CONFIG = """\
[chargepoint]
id = "CP-SMART"
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
max_current_a = 32
phases = 3

[[evse.connector]]
id = 1

[[evse]]
id = 2
max_current_a = 32
phases = 3

[[evse.connector]]
id = 1

[sim]
control_socket = "sim.sock"
"""


class Rig(StationRig):
    def __init__(self, tmp: Path, clock: ManualClock | None = None) -> None:
        super().__init__(tmp, CONFIG, FakeLink({"TAG-1": "Accepted", "TAG-2": "Accepted"}), clock or START)
        self.pilots: list[tuple[int, Any]] = []
        self.station.observers.append(self._observe)
        self.evaluations = 0
        apply = self.station.apply_smart_limits

        def counted() -> None:
            self.evaluations += 1
            apply()
        self.station.apply_smart_limits = counted  # type: ignore[method-assign]

    def _observe(self, events: list[EvseEvent]) -> None:
        self.pilots.extend((e.evse_id, e.output) for e in events if isinstance(e, PilotChanged))

    def jobs(self) -> list[Coroutine[Any, Any, Any]]:
        return [*super().jobs(), self.station.run_smart_charging()]

    async def stop(self) -> None:
        await super().stop()
        self.c.store.close()

    async def settle(self) -> None:
        """Let spawned tasks (remote starts, stops) run while time moves a little."""
        await self.run(0.5)

    def set(self, data: dict[str, Any], connector: int = 1) -> bool:
        return self.station.set_charging_profile(profile_from_ocpp(data, connector))

    async def charge(self, evse: int = 1, tag: str = "TAG-1") -> None:
        self.sim.plug(evse, max_current_a=32, phases=3)
        await self.run(0.1)
        await self.tap(tag, evse)
        self.sim.set_ev_state(evse, "C")
        await self.run(0.2)

    def offered(self, evse: int = 1) -> float:
        return self.c.controllers[evse].snapshot().offered_current_a

    def smart(self, evse: int = 1) -> float | None:
        return self.station._limits[evse].get("smart")

    def offers_seen(self, evse: int = 1) -> list[float]:
        return [current_for_duty(o.duty_percent) for e, o in self.pilots if e == evse and o.mode is PilotMode.PWM]


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    r = Rig(tmp_path)
    await r.start()
    yield r
    await r.stop()


async def test_default_profile_limits_the_very_first_offer(rig: Rig) -> None:
    assert rig.set(payload(1, "TxDefaultProfile", [(0, 10)]), connector=0)
    await rig.charge()
    assert rig.station.status_of(1)[0] is ConnectorStatus.CHARGING
    assert rig.offered() == 10
    assert rig.offers_seen() == [pytest.approx(10, abs=0.1)]


async def test_limit_changes_at_the_schedule_boundary_by_a_timer(rig: Rig) -> None:
    # From 12:00: 16 A, and 8 A from 12:10.
    assert rig.set(payload(1, "TxDefaultProfile", [(0, 16), (600, 8)], start="2026-03-02T12:00:00Z"))
    await rig.charge()
    assert rig.smart() is None  # 11:59: the schedule has not started
    evaluations = rig.evaluations
    await rig.run(60, step=0.5)
    assert rig.clock.now() >= datetime(2026, 3, 2, 12, 0, tzinfo=timezone.utc)
    assert rig.smart() == 16
    await rig.run(599, step=1.0)
    assert rig.smart() == 16
    await rig.run(1, step=1.0)
    assert rig.smart() == 8
    await rig.run(6, step=0.5)  # the controller changes the duty at most every 5 s while charging
    assert rig.offered() == 8
    # Woken by the two boundaries and a re-check a minute, not by every tick.
    assert rig.evaluations - evaluations <= 2 + 660 / 60 + 1


async def test_tx_profile_overrules_the_default_and_ends_with_its_transaction(rig: Rig) -> None:
    assert rig.set(payload(1, "TxDefaultProfile", [(0, 10)]), connector=0)
    assert not rig.set(payload(2, "TxProfile", [(0, 20)]))  # no transaction yet
    await rig.charge()
    assert rig.set(payload(2, "TxProfile", [(0, 20)], kind="Relative", start=None))
    await rig.run(6, step=0.5)
    assert rig.offered() == 20
    rig.sim.unplug(1)
    await rig.settle()
    assert [p.purpose for p in rig.station.smart.registry.profiles] == [Purpose.TX_DEFAULT]
    assert rig.smart() == 10


@pytest.mark.parametrize("authorize_remote", ["true", "false"])
async def test_remote_start_profile_applies_to_the_transaction_it_starts(rig: Rig, authorize_remote: str) -> None:
    rig.c.settings.change("AuthorizeRemoteTxRequests", authorize_remote)
    rig.sim.plug(1)
    await rig.run(0.1)
    profile = profile_from_ocpp(payload(7, "TxProfile", [(0, 12)], kind="Relative", start=None), 0)
    assert rig.station.remote_start("TAG-1", 1, profile)
    await rig.settle()
    tx = rig.station.sessions[1].tx
    assert tx is not None
    [installed] = rig.station.smart.registry.profiles
    assert (installed.id, installed.connector_id, installed.local_tx) == (7, 1, tx.local_id)
    rig.sim.set_ev_state(1, "C")
    await rig.run(0.2)
    assert rig.offered() == 12
    assert rig.offers_seen() == [pytest.approx(12, abs=0.1)]


async def test_remote_start_with_an_unusable_profile_is_rejected(rig: Rig) -> None:
    wrong = profile_from_ocpp(payload(7, "TxDefaultProfile", [(0, 12)]), 0)
    assert not rig.station.remote_start("TAG-1", 1, wrong)
    named = profile_from_ocpp(payload(7, "TxProfile", [(0, 12)], transaction_id=3), 0)
    assert not rig.station.remote_start("TAG-1", None, named)


async def test_remote_start_profile_is_dropped_with_a_refused_tag(rig: Rig) -> None:
    rig.sim.plug(1)
    await rig.run(0.1)
    profile = profile_from_ocpp(payload(7, "TxProfile", [(0, 6)]), 0)
    assert rig.station.remote_start("TAG-UNKNOWN", 1, profile)
    await rig.settle()
    assert rig.station.sessions[1].tx is None
    task = asyncio.create_task(rig.station.present_token(IdToken("TAG-1", evse_id=1)))
    while not task.done():
        await rig.run(0.05)
    rig.sim.set_ev_state(1, "C")
    await rig.run(0.2)
    assert rig.station.smart.registry.profiles == []
    assert rig.offered() == 32


async def test_a_limit_below_six_amperes_pauses_the_ev(rig: Rig) -> None:
    await rig.charge()
    assert rig.offered() == 32
    assert rig.set(payload(3, "TxProfile", [(0, 4)]))
    await rig.run(0.2)
    ctl = rig.c.controllers[1].snapshot()
    assert ctl.pilot.mode is PilotMode.CONSTANT_HIGH  # no PWM: the EV must stop
    assert rig.station.status_of(1)[0] is ConnectorStatus.SUSPENDED_EVSE
    await rig.run(7, step=0.5)
    assert not rig.c.controllers[1].snapshot().contactor_closed
    assert min(rig.offers_seen()) >= 6  # never a duty below the 6 A one
    assert rig.station.clear_charging_profiles(3, None, None, None)
    await rig.run(6, step=0.5)
    assert rig.offered() == 32
    assert rig.c.controllers[1].snapshot().pilot.mode is PilotMode.PWM


async def test_charge_point_maximum_is_shared_between_two_transactions(rig: Rig) -> None:
    assert rig.set(payload(9, "ChargePointMaxProfile", [(0, 40)]), connector=0)
    await rig.charge(1, "TAG-1")
    assert rig.offered(1) == 32
    await rig.charge(2, "TAG-2")
    await rig.run(6, step=0.5)
    assert (rig.offered(1), rig.offered(2)) == (20, 20)
    rig.sim.unplug(1)
    await rig.settle()
    await rig.run(6, step=0.5)
    assert rig.offered(2) == 32


async def test_composite_schedule_from_the_station(rig: Rig) -> None:
    assert rig.set(payload(1, "TxDefaultProfile", [(0, 16), (600, 8)], start="2026-03-02T12:00:00Z"))
    composite = rig.station.composite_schedule(1, 1200, None)
    assert composite is not None and composite.schedule.unit is RateUnit.AMPERE
    assert [(p.start_s, p.limit) for p in composite.schedule.periods] == [(0, 32.0), (60, 16.0), (660, 8.0)]
    assert rig.station.composite_schedule(3, 600, None) is None  # no such connector
    assert rig.station.composite_schedule(1, 0, None) is None


async def test_profiles_survive_a_restart(tmp_path: Path) -> None:
    first = Rig(tmp_path)
    await first.start()
    assert first.set(payload(1, "TxDefaultProfile", [(0, 10)]), connector=0)
    assert first.set(payload(2, "ChargePointMaxProfile", [(0, 40)]), connector=0)
    await first.stop()
    again = Rig(tmp_path, first.clock)
    await again.start()
    try:
        assert sorted(p.id for p in again.station.smart.registry.profiles) == [1, 2]
        await again.charge()
        assert again.offered() == 10
    finally:
        await again.stop()
