"""The simulated board in-process: the EV model, the devices' contracts, exact energy and faults."""
from __future__ import annotations

from pathlib import Path

import pytest

from chargepoint.config.model import (
    BoardConfig,
    ChargePointConfig,
    Config,
    ConnectorConfig,
    EvseConfig,
    OcppConfig,
    SimConfig,
    StorageConfig,
)
from drivers.sim.board import SimBoard, SimCommandError, build_sim_board, sim_board_of
from drivers.sim.ev import current_from_duty
from hal import contracts
from hal.board import build_board
from hal.clock import ManualClock
from hal.types import CpState, IdToken, IndicatorPattern, MeterError, PilotMode, ProximityReading


def make_config(socket: Path | None = Path("/tmp/borne-sim-unused.sock")) -> Config:
    return Config(
        source=Path("/etc/borne/firmware.toml"),
        chargepoint=ChargePointConfig(id="CP1", vendor="Borne", model="Sim"),
        ocpp=OcppConfig(version="1.6", csms_url="ws://127.0.0.1:9000"),
        board=BoardConfig(kind="sim"),
        storage=StorageConfig(path=Path("/tmp/borne-sim-store")),
        evses=(
            EvseConfig(id=1, max_current_a=32, phases=3, connectors=(ConnectorConfig(id=1, type="Type2Socket"),)),
            EvseConfig(id=2, max_current_a=16, phases=1, connectors=(ConnectorConfig(id=1, type="Type2Cable"),)),
        ),
        sim=SimConfig(control_socket=socket) if socket is not None else None,
    )


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sim(clock: ManualClock) -> SimBoard:
    return SimBoard(make_config(), clock)


def charging(sim: SimBoard, duty: float = 26.67, evse_id: int = 1, **plug: object) -> None:
    sim.plug(evse_id, **plug)  # type: ignore[arg-type]
    sim.set_ev_state(evse_id, "C")
    devices = sim.evses[evse_id]
    devices.pilot.set_pwm(duty)
    devices.contactor.set_closed(True)


# --- board structure -----------------------------------------------------------------------


def test_board_implements_the_contracts(clock: ManualClock) -> None:
    board = build_sim_board(make_config(), clock)
    assert board.kind == "sim"
    assert sorted(board.evses) == [1, 2]
    socket = board.evses[1]
    assert isinstance(socket.contactor, contracts.Contactor)
    assert isinstance(socket.pilot, contracts.ControlPilot)
    assert isinstance(socket.proximity, contracts.ProximityPilot)
    assert isinstance(socket.rcm, contracts.ResidualCurrentMonitor)
    assert isinstance(socket.lock, contracts.SocketLock)
    assert isinstance(socket.meter, contracts.EnergyMeter)
    assert isinstance(board.reader, contracts.IdTokenReader)
    assert isinstance(board.indicator, contracts.Indicator)
    assert board.evses[2].proximity is None and board.evses[2].lock is None
    assert len(board.services) == 1
    assert sim_board_of(board).evses[1].pilot is socket.pilot


def test_build_board_dispatches_to_sim(clock: ManualClock) -> None:
    board = build_board(make_config(), clock)
    assert isinstance(sim_board_of(board), SimBoard)


def test_no_control_service_without_sim_section(clock: ManualClock) -> None:
    assert build_sim_board(make_config(socket=None), clock).services == []


# --- EV model -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("duty", "amps"),
    [
        (0.0, 0.0),
        (3.0, 0.0),
        (5.0, 0.0),
        (7.0, 0.0),
        (7.9, 0.0),
        (8.0, 6.0),
        (9.9, 6.0),
        (10.0, 6.0),
        (26.67, 16.0),
        (100 * 16 / 0.6 / 100, 16.0),
        (50.0, 30.0),
        (85.0, 51.0),
        (85.2, 53.0),
        (89.2, 63.0),
        (96.0, 80.0),
        (96.5, 80.0),
        (97.0, 80.0),
        (97.1, 0.0),
        (100.0, 0.0),
    ],
)
def test_duty_decoding(duty: float, amps: float) -> None:
    assert current_from_duty(duty) == pytest.approx(amps)


def test_unplugged_is_a_and_plug_is_b(sim: SimBoard) -> None:
    pilot = sim.evses[1].pilot
    assert pilot.read().state is CpState.A
    sim.plug(1)
    assert pilot.read().state is CpState.B


def test_ev_stays_b_without_pwm(sim: SimBoard) -> None:
    evse = sim.evses[1]
    sim.plug(1)
    sim.set_ev_state(1, "C")
    evse.pilot.set_constant_high()
    evse.contactor.set_closed(True)
    assert evse.pilot.read().state is CpState.B
    assert evse.power_w() == 0.0


@pytest.mark.parametrize("duty", [3.0, 5.0, 7.0, 97.5, 100.0])
def test_no_draw_outside_8_to_97_percent(sim: SimBoard, duty: float) -> None:
    charging(sim, duty=duty)
    assert sim.evses[1].pilot.read().state is CpState.B
    assert sim.evses[1].power_w() == 0.0


def test_ev_returns_to_b_when_pwm_stops(sim: SimBoard) -> None:
    charging(sim)
    pilot = sim.evses[1].pilot
    assert pilot.read().state is CpState.C
    pilot.set_constant_high()
    assert pilot.read().state is CpState.B
    assert sim.evses[1].power_w() == 0.0


def test_state_d_draws_like_c(sim: SimBoard) -> None:
    charging(sim)
    sim.set_ev_state(1, "D")
    assert sim.evses[1].pilot.read().state is CpState.D
    assert sim.evses[1].power_w() == pytest.approx(11040.0)


def test_state_f_output_reads_f(sim: SimBoard) -> None:
    charging(sim)
    pilot = sim.evses[1].pilot
    pilot.set_state_f()
    assert pilot.output.mode is PilotMode.STATE_F
    assert pilot.read().state is CpState.F
    assert sim.evses[1].power_w() == 0.0


def test_draw_needs_a_closed_contactor(sim: SimBoard) -> None:
    charging(sim)
    sim.evses[1].contactor.set_closed(False)
    assert sim.evses[1].pilot.read().state is CpState.C
    assert sim.evses[1].power_w() == 0.0


@pytest.mark.parametrize(("ev_max", "amps"), [(32.0, 32.0), (80.0, 63.0)])
def test_high_range_capped_by_ev_max(sim: SimBoard, ev_max: float, amps: float) -> None:
    charging(sim, duty=89.2, max_current_a=ev_max)
    assert sim.evses[1].phase_currents() == pytest.approx((amps, amps, amps))


def test_single_phase_ev_on_three_phase_evse(sim: SimBoard, clock: ManualClock) -> None:
    charging(sim, phases=1)
    assert sim.evses[1].phase_currents() == (16.0, 0.0, 0.0)
    assert sim.evses[1].power_w() == pytest.approx(3680.0)


async def test_three_phase_ev_on_single_phase_evse(sim: SimBoard) -> None:
    charging(sim, evse_id=2)
    reading = await sim.evses[2].meter.read()
    assert reading.voltage_v == (230.0,)
    assert reading.current_a == (16.0,)
    assert reading.power_w == pytest.approx(3680.0)


def test_paused_ev_keeps_state_without_drawing(sim: SimBoard) -> None:
    charging(sim)
    sim.set_ev_state(1, "C", paused=True)
    assert sim.evses[1].pilot.read().state is CpState.C
    assert sim.evses[1].power_w() == 0.0


# --- energy ---------------------------------------------------------------------------------


async def test_energy_integrates_exactly(sim: SimBoard, clock: ManualClock) -> None:
    charging(sim, duty=26.67)
    reading = await sim.evses[1].meter.read()
    assert reading.power_w == pytest.approx(11040.0)
    assert reading.voltage_v == (230.0, 230.0, 230.0)
    assert reading.current_a == (16.0, 16.0, 16.0)
    clock.advance(3600)
    reading = await sim.evses[1].meter.read()
    assert reading.energy_import_wh == pytest.approx(11040.0, abs=0.01)


async def test_energy_books_each_change_at_the_old_power(sim: SimBoard, clock: ManualClock) -> None:
    evse = sim.evses[1]
    charging(sim, duty=26.67)
    clock.advance(3600)  # 16 A x 3 x 230 V for 1 h = 11040 Wh
    evse.pilot.set_pwm(50.0)
    clock.advance(1800)  # 30 A for 0.5 h = 10350 Wh
    evse.contactor.set_closed(False)
    clock.advance(600)
    evse.contactor.set_closed(True)
    clock.advance(360)  # 30 A for 0.1 h = 2070 Wh
    sim.set_ev_state(1, "B")
    clock.advance(600)
    sim.set_ev_state(1, "C")
    clock.advance(360)  # 2070 Wh
    sim.unplug(1)
    clock.advance(3600)
    reading = await evse.meter.read()
    assert reading.energy_import_wh == pytest.approx(11040 + 10350 + 2070 + 2070, abs=0.01)
    assert reading.power_w == 0.0


async def test_energy_continues_from_initial_register(clock: ManualClock) -> None:
    sim = SimBoard(make_config(), clock, initial_energy_wh={1: 123456.5})
    assert (await sim.evses[1].meter.read()).energy_import_wh == 123456.5
    charging(sim)
    clock.advance(3600)
    assert (await sim.evses[1].meter.read()).energy_import_wh == pytest.approx(123456.5 + 11040.0, abs=0.01)
    assert (await sim.evses[2].meter.read()).energy_import_wh == 0.0


# --- faults ---------------------------------------------------------------------------------


async def test_rcm_latches_until_reset(sim: SimBoard) -> None:
    rcm = sim.evses[1].rcm
    assert not rcm.tripped() and await rcm.self_test()
    sim.inject_fault(1, "rcm")
    assert rcm.tripped()
    assert not await rcm.self_test()
    rcm.reset()
    assert rcm.tripped(), "reset cannot clear a residual current that is still there"
    sim.clear_fault(1, "rcm")
    assert rcm.tripped(), "the trip stays latched after the fault goes"
    assert await rcm.self_test()
    rcm.reset()
    assert not rcm.tripped()


def test_diode_fault_needs_an_ev(sim: SimBoard) -> None:
    pilot = sim.evses[1].pilot
    sim.inject_fault(1, "diode")
    assert not pilot.read().diode_fault
    sim.plug(1)
    assert pilot.read().diode_fault
    sim.clear_fault(1, "diode")
    assert not pilot.read().diode_fault


def test_weld_keeps_feedback_closed(sim: SimBoard) -> None:
    contactor = sim.evses[1].contactor
    assert contactor.feedback_closed() is False
    contactor.set_closed(True)
    assert contactor.feedback_closed() is True
    sim.inject_fault(1, "weld")
    contactor.set_closed(False)
    assert not contactor.commanded_closed
    assert contactor.feedback_closed() is True
    sim.clear_fault(1, "weld")
    assert contactor.feedback_closed() is False


def test_welded_contacts_still_carry_current(sim: SimBoard) -> None:
    charging(sim)
    sim.inject_fault(1, "weld")
    sim.evses[1].contactor.set_closed(False)
    assert sim.evses[1].power_w() == pytest.approx(11040.0)


async def test_meter_loss_raises_and_energy_keeps_counting(sim: SimBoard, clock: ManualClock) -> None:
    charging(sim)
    sim.inject_fault(1, "meter-loss")
    with pytest.raises(MeterError):
        await sim.evses[1].meter.read()
    clock.advance(3600)
    sim.clear_fault(1, "meter-loss")
    assert (await sim.evses[1].meter.read()).energy_import_wh == pytest.approx(11040.0, abs=0.01)


def test_pp_fault_and_cable_ampacity(sim: SimBoard) -> None:
    pp = sim.evses[1].proximity
    assert pp is not None
    assert pp.read() == ProximityReading(None)
    sim.plug(1, cable_a=20)
    assert pp.read() == ProximityReading(20)
    sim.inject_fault(1, "pp")
    assert pp.read().error
    sim.clear_fault(1, "pp")
    assert pp.read() == ProximityReading(20)


def test_pp_fault_refused_on_tethered_cable(sim: SimBoard) -> None:
    with pytest.raises(SimCommandError, match="Type2Cable"):
        sim.inject_fault(2, "pp")


def test_state_e_fault(sim: SimBoard) -> None:
    charging(sim)
    pilot = sim.evses[1].pilot
    sim.inject_fault(1, "state-e")
    assert pilot.read().state is CpState.E
    assert sim.evses[1].power_w() == 0.0
    pilot.set_state_f()
    assert pilot.read().state is CpState.F
    pilot.set_pwm(26.67)
    sim.clear_fault(1, "state-e")
    assert pilot.read().state is CpState.C
    assert sim.evses[1].power_w() == pytest.approx(11040.0)


def test_faults_listed_in_status(sim: SimBoard) -> None:
    sim.inject_fault(1, "weld")
    sim.inject_fault(1, "rcm")
    assert sim.evses[1].status()["faults"] == ["rcm", "weld"]
    sim.clear_fault(1, "weld")
    assert sim.evses[1].status()["faults"] == ["rcm"]


# --- other devices and commands -------------------------------------------------------------


def test_lock_feedback_follows_command(sim: SimBoard) -> None:
    lock = sim.evses[1].lock
    assert lock is not None
    lock.set_locked(True)
    assert lock.commanded_locked and lock.feedback_locked() is True
    assert sim.evses[1].status()["locked"] is True
    lock.set_locked(False)
    assert lock.feedback_locked() is False


async def test_reader_delivers_taps_in_order(sim: SimBoard) -> None:
    sim.tap("AAA")
    sim.tap("BBB", 2)
    assert await sim.reader.read() == IdToken("AAA", "rfid", None)
    assert await sim.reader.read() == IdToken("BBB", "rfid", 2)


def test_indicator_pattern_in_status(sim: SimBoard) -> None:
    sim.indicator.show(IndicatorPattern.CHARGING)
    assert sim.status()["indicator"] == "charging"


def test_status_pwm_field(sim: SimBoard) -> None:
    pilot = sim.evses[1].pilot
    assert sim.evses[1].status()["pwm_duty_percent"] == 100.0
    pilot.set_pwm(26.67)
    assert sim.evses[1].status()["pwm_duty_percent"] == 26.67
    assert sim.evses[1].status()["offered_current_a"] == 16.0
    pilot.set_state_f()
    assert sim.evses[1].status()["pwm_duty_percent"] == 0.0


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda s: s.plug(9), "unknown EVSE 9"),
        (lambda s: s.plug("1"), "integer"),
        (lambda s: s.plug(1, cable_a=25), "cable_a"),
        (lambda s: s.plug(1, phases=4), "phases"),
        (lambda s: s.plug(1, max_current_a=0), "max_current_a"),
        (lambda s: s.unplug(1), "no EV"),
        (lambda s: s.set_ev_state(1, "C"), "plug one first"),
        (lambda s: s.inject_fault(1, "fire"), "rcm, diode, weld, meter-loss, pp, state-e"),
        (lambda s: s.tap(""), "tag"),
        (lambda s: s.tap("X", 5), "unknown EVSE 5"),
    ],
)
def test_bad_commands_say_what_is_accepted(sim: SimBoard, call, match: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(SimCommandError, match=match):
        call(sim)


def test_double_plug_and_bad_state_refused(sim: SimBoard) -> None:
    sim.plug(1)
    with pytest.raises(SimCommandError, match="already"):
        sim.plug(1)
    with pytest.raises(SimCommandError, match="B, C, D"):
        sim.set_ev_state(1, "A")


async def test_meter_register_survives_a_new_board_like_a_real_meter(tmp_path) -> None:
    """build_sim_board keeps the registers in a file beside the control socket."""
    from chargepoint.config import load_config
    from drivers.sim.board import build_sim_board, sim_board_of

    cfg = tmp_path / "firmware.toml"
    cfg.write_text(
        '[chargepoint]\nid = "X"\nvendor = "V"\nmodel = "M"\n[ocpp]\nversion = "1.6"\n'
        'csms_url = "ws://127.0.0.1:9/ocpp"\n[board]\nkind = "sim"\n[storage]\npath = "db"\n'
        '[[evse]]\nid = 1\nmax_current_a = 16\nphases = 3\n[[evse.connector]]\nid = 1\n'
        '[sim]\ncontrol_socket = "s.sock"\n', encoding="utf-8")
    config = load_config(cfg)
    clock = ManualClock()
    board = build_sim_board(config, clock)
    sim = sim_board_of(board)
    sim.plug(1)
    sim.set_ev_state(1, "C")
    board.evses[1].pilot.set_pwm(26.67)
    board.evses[1].contactor.set_closed(True)
    clock.advance(3600)
    first = await board.evses[1].meter.read()
    assert first.energy_import_wh > 11000
    again = build_sim_board(config, ManualClock())
    assert (await again.evses[1].meter.read()).energy_import_wh == pytest.approx(first.energy_import_wh)
