"""The policy layer on the simulated board, with a manual clock and a fake CSMS link: cadence of
meter values, clock-aligned data, ConnectionTimeOut, power-loss recovery, refusals on start."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from station_rig import FakeLink, StationRig

from chargepoint.link import AuthDecision
from chargepoint.status import ConnectorStatus

CONFIG = """\
[chargepoint]
id = "CP-TEST"
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

[auth]
whitelist = ["TECH-1"]

[sim]
control_socket = "sim.sock"
"""


class Rig(StationRig):
    def __init__(self, tmp: Path, link: FakeLink, start: datetime | None = None) -> None:
        super().__init__(tmp, CONFIG, link, start or datetime(2026, 3, 1, 10, 0, 7, tzinfo=timezone.utc))

    def outbox(self) -> list[tuple[str, dict]]:
        rows = self.c.store._db.execute("SELECT kind, payload FROM outbox ORDER BY seq").fetchall()
        import json
        return [(r["kind"], json.loads(r["payload"])) for r in rows]

    async def start_charging(self, tag: str = "TAG-1") -> None:
        self.sim.plug(1, max_current_a=32, phases=3)
        await self.run(0.1)
        await self.tap(tag)
        self.sim.set_ev_state(1, "C")
        await self.run(0.1)


@pytest.fixture
async def rig(tmp_path: Path):
    r = Rig(tmp_path, FakeLink(decisions={"TAG-1": "Accepted"}))
    await r.start()
    yield r
    await r.stop()


async def test_charging_session_writes_start_samples_and_stop_in_order(rig: Rig) -> None:
    rig.c.settings.change("MeterValueSampleInterval", "60")
    await rig.start_charging()
    assert rig.status() is ConnectorStatus.CHARGING
    await rig.run(600, step=0.5)
    rig.sim.unplug(1)
    await rig.run(0.5)
    kinds = [k for k, _ in rig.outbox()]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    meters = [p for k, p in rig.outbox() if k == "meter"]
    # One sample per MeterValueSampleInterval, anchored to the start (600 s / 60 s).
    assert len(meters) == 10
    stop = rig.outbox()[-1][1]
    assert stop["reason"] == "EVDisconnected"
    # 16 A x 3 phases x 230 V for 600 s (the EVSE maximum caps the EV's 32 A).
    assert stop["meter_stop_wh"] == pytest.approx(11040 * 600 / 3600, rel=0.01)
    contexts = [s["context"] for d in stop["transaction_data"] for s in d["samples"]]
    # StopTxnSampledData every MeterValueSampleInterval, between the Begin and End readings.
    assert contexts == ["Transaction.Begin"] + ["Sample.Periodic"] * 10 + ["Transaction.End"]


async def test_clock_aligned_values_fall_on_the_boundaries(rig: Rig) -> None:
    rig.c.settings.change("MeterValueSampleInterval", "0")
    rig.c.settings.change("ClockAlignedDataInterval", "900")
    rig.c.settings.change("StopTxnAlignedData", "Energy.Active.Import.Register")
    await rig.start_charging()  # started at 10:00:07 UTC
    await rig.run(1800, step=1.0)
    await rig.tap("TAG-1")
    await rig.run(0.5)
    meters = [p for k, p in rig.outbox() if k == "meter"]
    assert [m["timestamp"] for m in meters] == ["2026-03-01T10:15:00.000Z", "2026-03-01T10:30:00.000Z"]
    assert {s["context"] for m in meters for s in m["samples"]} == {"Sample.Clock"}
    stop = rig.outbox()[-1][1]
    assert stop["reason"] == "Local"
    clock_rows = [d["timestamp"] for d in stop["transaction_data"]
                  if d["samples"][0]["context"] == "Sample.Clock"]
    assert clock_rows == ["2026-03-01T10:15:00.000Z", "2026-03-01T10:30:00.000Z"]


async def test_authorisation_lapses_after_connection_timeout(rig: Rig) -> None:
    rig.c.settings.change("ConnectionTimeOut", "30")
    await rig.tap("TAG-1")
    await rig.run(1.0)
    assert rig.status() is ConnectorStatus.PREPARING
    await rig.run(28, step=0.5)
    assert rig.status() is ConnectorStatus.PREPARING
    await rig.run(2, step=0.5)
    assert rig.status() is ConnectorStatus.AVAILABLE
    rig.sim.plug(1)
    await rig.run(0.5)
    assert [k for k, _ in rig.outbox()] == []


async def test_refused_start_stops_the_transaction_as_deauthorized(rig: Rig) -> None:
    await rig.start_charging()
    local_id = rig.c.station.sessions[1].tx.local_id
    rig.c.station.transaction_confirmed(local_id, "TAG-1", AuthDecision("Blocked"))
    await rig.run(0.5)
    assert rig.outbox()[-1][1]["reason"] == "DeAuthorized"
    assert not rig.c.controllers[1].snapshot().contactor_closed


async def test_refused_start_without_stop_policy_only_stops_energy(rig: Rig) -> None:
    rig.c.settings.change("StopTransactionOnInvalidId", "false")
    await rig.start_charging()
    local_id = rig.c.station.sessions[1].tx.local_id
    rig.c.station.transaction_confirmed(local_id, "TAG-1", AuthDecision("Invalid"))
    await rig.run(0.5)
    assert rig.c.station.sessions[1].tx is not None
    assert not rig.c.controllers[1].snapshot().contactor_closed
    assert rig.status() is ConnectorStatus.SUSPENDED_EVSE


async def test_offline_whitelist_tag_charges_and_unknown_tag_does_not(tmp_path: Path) -> None:
    r = Rig(tmp_path, FakeLink(online=False))
    await r.start()
    try:
        r.sim.plug(1)
        await r.run(0.1)
        await r.tap("STRANGER")
        await r.run(0.1)
        assert r.c.station.sessions[1].tx is None
        await r.tap("tech-1")  # id tags compare case-insensitively
        await r.run(0.1)
        assert r.c.station.sessions[1].tx is not None
    finally:
        await r.stop()


async def test_power_loss_closes_open_transactions_with_last_reading(tmp_path: Path) -> None:
    first = Rig(tmp_path, FakeLink(decisions={"TAG-1": "Accepted"}))
    await first.start()
    await first.start_charging()
    await first.run(120, step=0.5)  # readings are persisted at least once a minute
    persisted = first.c.store.open_transactions()[0].last_meter_wh
    assert persisted > 0
    await first.stop()  # the process dies: nothing is closed
    first.c.store.close()

    second = Rig(tmp_path, FakeLink())
    await second.start()
    try:
        stop = second.outbox()[-1]
        assert stop[0] == "stop"
        assert stop[1]["reason"] == "PowerLoss"
        # The meter kept its register across the restart (as a real one does), so the fresh
        # reading is plausible (not lower than what was stored) and closes the transaction.
        assert stop[1]["meter_stop_wh"] >= persisted
        assert stop[1]["meter_stop_wh"] == pytest.approx(persisted, abs=11040 / 3600 * 1.0)
        assert second.c.store.open_transactions() == []
        assert not second.c.controllers[1].snapshot().contactor_closed
    finally:
        await second.stop()


async def test_inoperative_while_charging_is_scheduled_until_the_end(rig: Rig) -> None:
    await rig.start_charging()
    assert rig.c.station.change_availability(1, operative=False) == "Scheduled"
    await rig.run(0.2)
    assert rig.status() is ConnectorStatus.CHARGING
    await rig.tap("TAG-1")
    await rig.run(0.2)
    assert rig.status() is ConnectorStatus.UNAVAILABLE
    assert rig.c.store.load_availability() == {1: False}


async def test_meter_loss_is_a_fault_until_readings_return(rig: Rig) -> None:
    await rig.start_charging()
    rig.sim.inject_fault(1, "meter-loss")
    await rig.run(4, step=0.5)
    assert rig.status() is ConnectorStatus.FAULTED
    assert not rig.c.controllers[1].snapshot().contactor_closed
    rig.sim.clear_fault(1, "meter-loss")
    await rig.run(2, step=0.02)
    assert rig.status() is ConnectorStatus.CHARGING


async def test_max_energy_on_invalid_id_allows_that_much_then_stops(rig: Rig) -> None:
    rig.c.settings.change("MaxEnergyOnInvalidId", "500")
    await rig.start_charging()
    local_id = rig.c.station.sessions[1].tx.local_id
    rig.c.station.transaction_confirmed(local_id, "TAG-1", AuthDecision("Invalid"))
    await rig.run(60, step=0.5)  # 11.04 kW: 184 Wh after a minute
    assert rig.c.station.sessions[1].tx is not None
    assert rig.c.controllers[1].snapshot().contactor_closed
    await rig.run(180, step=0.5)  # past 500 Wh after ~163 s
    stop = rig.outbox()[-1][1]
    assert stop["reason"] == "DeAuthorized"
    assert 500 <= stop["meter_stop_wh"] - stop["transaction_data"][0]["samples"][0]["value"] < 520


async def test_offline_current_limit_applies_after_the_configured_time(rig: Rig) -> None:
    from chargepoint.config import SafetyConfig

    rig.c.station.safety = SafetyConfig(offline_current_limit_a=10.0, offline_after_s=120.0)
    await rig.start_charging()
    assert rig.c.controllers[1].snapshot().offered_current_a == 16.0
    rig.link.online = False
    await rig.run(110, step=0.5)
    assert rig.c.controllers[1].snapshot().offered_current_a == 16.0
    await rig.run(20, step=0.5)
    # Charging: the duty may change at most every 5 s, so allow for that.
    await rig.run(6, step=0.1)
    assert rig.c.controllers[1].snapshot().offered_current_a == 10.0
    assert rig.sim.status()["evses"][0]["power_w"] == pytest.approx(10 * 3 * 230, rel=0.02)
    rig.link.online = True
    await rig.run(8, step=0.1)
    assert rig.c.controllers[1].snapshot().offered_current_a == 16.0


async def test_offline_limit_zero_stops_energy_but_not_the_transaction(rig: Rig) -> None:
    from chargepoint.config import SafetyConfig

    rig.c.station.safety = SafetyConfig(offline_current_limit_a=0.0, offline_after_s=10.0)
    await rig.start_charging()
    rig.link.online = False
    await rig.run(15, step=0.1)
    assert not rig.c.controllers[1].snapshot().contactor_closed
    assert rig.c.station.sessions[1].tx is not None
    assert rig.status() is ConnectorStatus.SUSPENDED_EVSE


async def test_ev_overcurrent_beyond_the_allowed_time_is_a_fault(rig: Rig, monkeypatch) -> None:
    from hal.types import FaultKind, MeterReading

    await rig.start_charging()
    meter = rig.c.board.evses[1].meter
    honest = meter.read
    draw = {"a": 16.0}

    async def greedy() -> MeterReading:
        r = await honest()
        return MeterReading(r.energy_import_wh, r.power_w, r.voltage_v, tuple(draw["a"] for _ in r.current_a))

    monkeypatch.setattr(meter, "read", greedy)
    draw["a"] = 18.0  # (16 + 0.5) x 1.1 = 18.15 A: still allowed
    await rig.run(20, step=0.5)
    assert FaultKind.OVERCURRENT not in rig.c.controllers[1].faults
    draw["a"] = 19.0
    await rig.run(6, step=0.5)
    assert FaultKind.OVERCURRENT not in rig.c.controllers[1].faults  # not yet 7 s
    await rig.run(3, step=0.5)
    assert FaultKind.OVERCURRENT in rig.c.controllers[1].faults
    await rig.run(0.02, step=0.01)  # the controller acts at its next cycle
    assert not rig.c.controllers[1].snapshot().contactor_closed
    assert rig.c.station.status_of(1)[1].code == "OverCurrentFailure"
    draw["a"] = 0.0
    rig.sim.unplug(1)
    await rig.run(1, step=0.05)
    assert FaultKind.OVERCURRENT not in rig.c.controllers[1].faults


async def test_rcm_self_test_runs_after_each_session_and_failure_is_permanent(rig: Rig) -> None:
    from hal.types import FaultKind

    await rig.start_charging()
    rig.sim.inject_fault(1, "rcm-self-test")  # the monitor's test circuit breaks during the session
    await rig.run(5, step=0.5)
    assert FaultKind.RCM_SELF_TEST not in rig.c.controllers[1].faults  # no test while charging
    rig.sim.unplug(1)
    await rig.run(2.5, step=0.05)
    assert FaultKind.RCM_SELF_TEST in rig.c.controllers[1].faults
    assert rig.c.station.status_of(1)[1].code == "GroundFailure"
    rig.sim.clear_fault(1, "rcm-self-test")
    await rig.run(30, step=0.5)
    assert FaultKind.RCM_SELF_TEST in rig.c.controllers[1].faults  # permanent...
    rig.sim.plug(1)
    await rig.tap("TAG-1")
    assert rig.c.station.sessions[1].tx is None  # ...and no new session
    assert rig.c.controllers[1].clear_latched_faults() == frozenset({FaultKind.RCM_SELF_TEST})
    await rig.run(0.5, step=0.05)
    assert rig.status() is ConnectorStatus.PREPARING


async def test_rcm_self_test_also_runs_periodically_on_an_idle_evse(rig: Rig) -> None:
    from chargepoint.config import SafetyConfig
    from hal.types import FaultKind

    rig.c.station.safety = SafetyConfig(rcm_self_test_interval_h=1.0)
    rig.sim.inject_fault(1, "rcm-self-test")
    await rig.run(3590, step=5.0)
    assert FaultKind.RCM_SELF_TEST not in rig.c.controllers[1].faults
    await rig.run(20, step=1.0)
    assert FaultKind.RCM_SELF_TEST in rig.c.controllers[1].faults


async def test_passing_self_test_does_not_trip_the_latched_rcm_fault(rig: Rig) -> None:
    from hal.types import FaultKind

    await rig.start_charging()
    rig.sim.unplug(1)
    await rig.run(3, step=0.05)
    assert rig.c.station.sessions[1].rcm_test_due is False  # it ran
    assert not rig.c.controllers[1].faults & {FaultKind.RCM, FaultKind.RCM_SELF_TEST}


async def test_over_temperature_input_stops_energy_while_active(rig: Rig) -> None:
    await rig.start_charging()
    rig.sim.inject_fault(1, "over-temperature")
    await rig.run(0.1, step=0.01)
    assert not rig.c.controllers[1].snapshot().contactor_closed
    assert rig.c.station.status_of(1)[1].code == "HighTemperature"
    rig.sim.clear_fault(1, "over-temperature")
    await rig.run(1, step=0.02)
    assert rig.c.controllers[1].snapshot().contactor_closed


def test_scaled_clock_continues_from_a_given_origin() -> None:
    import time as _time
    from datetime import datetime, timezone

    from hal.clock import ScaledClock

    first = ScaledClock(10.0, (_time.monotonic() - 5.0, datetime(2026, 1, 1, tzinfo=timezone.utc)))
    again = ScaledClock(10.0, first.origin)
    # 5 real seconds since the origin at x10: both read ~50 s after it, and agree.
    assert 49.0 < (again.now() - datetime(2026, 1, 1, tzinfo=timezone.utc)).total_seconds() < 60.0
    assert abs((again.now() - first.now()).total_seconds()) < 1.0


async def test_the_status_light_follows_the_session(rig: Rig) -> None:
    from hal.types import FaultKind, IndicatorPattern

    light = rig.sim.indicator
    assert light.pattern is IndicatorPattern.AVAILABLE
    rig.sim.plug(1, max_current_a=32, phases=3)
    await rig.run(0.1)
    assert light.pattern is IndicatorPattern.PREPARING
    await rig.tap("TAG-1")
    rig.sim.set_ev_state(1, "C")
    await rig.run(0.1)
    assert light.pattern is IndicatorPattern.CHARGING
    rig.sim.inject_fault(1, FaultKind.RCM)
    await rig.run(0.1)
    assert light.pattern is IndicatorPattern.FAULTED
