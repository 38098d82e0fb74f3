"""`chargepoint doctor` on the "mcu" board: the checks go through the same HAL contracts, the
pilot's plateau voltages come from the co-processor's own report, and a failing CP sensing
names the serial link rather than an ADC the board does not have."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
from mcu_rig import until, write_config

from chargepoint.config import load_config
from chargepoint.doctor import Doctor, DoctorOptions, Outcome
from chargepoint.doctor.render import render_table
from drivers.mcu.board import build_mcu_board
from drivers.mcu.emulator import McuEmulator
from drivers.meter.maps import get_map
from drivers.meter.peer import MeterPeer
from drivers.meter.registers import register_image
from hal.clock import SystemClock
from hal.types import PilotMode

pytestmark = pytest.mark.timeout(60)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_the_doctor_checks_an_mcu_board(tmp_path: Path) -> None:
    meter_port = free_port()
    peer = MeterPeer({1: register_image(get_map("sdm630"), energy_import_wh=1000.0, power_w=0.0,
                                        voltage_v=(230.0,) * 3, current_a=(0.0,) * 3)})
    await peer.start_tcp("127.0.0.1", meter_port)
    emu = McuEmulator(1, link=tmp_path / "mcu").start()
    try:
        clock = SystemClock()
        config = load_config(write_config(tmp_path, emu.port, meter_port))
        board = build_mcu_board(config, clock)
        options = DoctorOptions(allow_contactor=True, no_badge=True, pattern_hold_s=0.01)
        report = await Doctor(config, options, clock=clock, board=board).run()
        table = render_table(report)
        by_check = {(r.device, r.check): r for r in report.results}
        rest = by_check[("control pilot", "+12 V at rest")]
        assert rest.outcome is Outcome.PASS, table
        assert rest.verdict.values["high_v"] is not None, "the MCU's plateau voltages are reported"
        # With no EV the co-processor keeps the relay open whatever Borne allows: not a failure.
        switching = by_check[("contactor", "close and open")]
        assert switching.outcome is Outcome.SKIP and "vehicle" in switching.verdict.detail, table
        assert report.exit_code == 0, table
        # The last commands reach the MCU through the link's own thread.
        until(lambda: emu.pilot(1).mode is PilotMode.STATE_F, what="the pilot left in state F")
        assert not emu.relay_closed(1)
    finally:
        emu.stop()
        await peer.stop()
