"""Whole charging sessions on the "mcu" board: the controller built from the documented example,
its pilot, contactor, RCM, PP and lock behind the emulated MCU on a pty, energy from a pymodbus
server speaking Modbus TCP. Everything runs on real time, as on a wallbox."""
from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from mcu_rig import write_config

from chargepoint.app import Controller, build_controller, run_controller
from chargepoint.config import load_config
from chargepoint.status import error_for
from drivers.mcu.board import build_mcu_board
from drivers.mcu.emulator import McuEmulator
from drivers.meter.maps import get_map
from drivers.meter.peer import MeterPeer
from drivers.meter.registers import register_image
from hal.clock import SystemClock
from hal.types import FaultKind, IdToken, PilotMode, PilotOutput

SDM630 = get_map("sdm630")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def until(predicate: Callable[[], object], timeout: float = 5.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} not reached within {timeout} s"
        await asyncio.sleep(0.005)


def image(energy_wh: float, power_w: float) -> dict:
    return register_image(SDM630, energy_import_wh=energy_wh, power_w=power_w, voltage_v=(230.0,) * 3,
                          current_a=(power_w / 690,) * 3)


@dataclass
class Station:
    emu: McuEmulator
    peer: MeterPeer
    c: Controller

    @property
    def commanded_closed(self) -> bool:
        return self.c.controllers[1].devices.contactor.commanded_closed


@pytest.fixture
async def station(tmp_path: Path) -> AsyncIterator[Station]:
    meter_port = free_port()
    peer = MeterPeer({1: image(12_000.0, 0.0)})
    await peer.start_tcp("127.0.0.1", meter_port)
    emu = McuEmulator(1, link=tmp_path / "mcu").start()  # the MCU's timers on real time
    clock = SystemClock()
    config = load_config(write_config(tmp_path, emu.port, meter_port))
    c = build_controller(config, clock, board=build_mcu_board(config, clock))
    stop = asyncio.Event()
    runner = asyncio.create_task(run_controller(c, stop))
    try:
        yield Station(emu, peer, c)
    finally:
        stop.set()
        await asyncio.gather(runner, return_exceptions=True)
        await peer.stop()
        try:
            # The controller has stopped: it told the MCU to open and drive F before closing the port.
            assert not emu.relay_closed(1) and emu.pilot(1).mode is PilotMode.STATE_F
        finally:
            emu.stop()


async def test_a_session_through_the_mcu(station: Station) -> None:
    emu, c = station.emu, station.c
    await until(lambda: emu.pilot(1).mode is PilotMode.CONSTANT_HIGH, what="+12 V once the controller runs")
    emu.set_pp(1, 220)  # a 32 A cable...
    emu.set_ev(1, "B")  # ...and an EV behind it
    await until(lambda: c.controllers[1].plugged, what="plugged")
    await c.station.present_token(IdToken("TECH-0001"))  # offline: the technician whitelist
    # PWM for 32 A (EVSE max 32 A, cable coded 32 A): 53.33 %; the socket locked.
    await until(lambda: emu.pilot(1) == PilotOutput(PilotMode.PWM, 53.33), what="PWM at 53.33 %")
    await until(lambda: emu.lock_driven(1), what="the socket locked")
    assert not emu.relay_closed(1)
    emu.set_ev(1, "C")
    await until(lambda: emu.relay_closed(1) and station.commanded_closed, what="the contactor closed via the MCU")
    await set_meter(station.peer, 14_500.0, 22_000.0)
    session = c.station.sessions[1]
    await until(lambda: session.meter is not None and session.meter.power_w > 20_000, what="metered power")
    emu.set_ev(1, "B")  # the EV stops: open within the IEC 61851 100 ms, here by the MCU itself
    await until(lambda: not emu.relay_closed(1), timeout=0.1, what="the relay open")
    await until(lambda: not station.commanded_closed, timeout=0.5, what="Borne's allow withdrawn")
    emu.set_ev(1, "A")
    emu.set_pp(1, None)
    await until(lambda: c.station.sessions[1].tx is None, what="the transaction ended")
    rows = list(c.store._db.execute("SELECT kind, payload FROM outbox ORDER BY seq"))
    assert rows[0]["kind"] == "start" and rows[-1]["kind"] == "stop"
    start, stop = json.loads(rows[0]["payload"]), json.loads(rows[-1]["payload"])
    assert start["meter_start_wh"] == pytest.approx(12_000.0, abs=1)
    assert stop["meter_stop_wh"] == pytest.approx(14_500.0, abs=1)
    assert stop["reason"] == "EVDisconnected"
    await until(lambda: not emu.lock_driven(1), what="the socket released")


async def set_meter(peer: MeterPeer, energy_wh: float, power_w: float) -> None:
    for function, regs in image(energy_wh, power_w).items():
        for address in sorted(regs):
            await peer.set_registers(1, function, address, [regs[address]])


async def test_a_silent_mcu_is_a_fault_that_opens_the_contactor(station: Station) -> None:
    emu, c = station.emu, station.c
    emu.set_pp(1, 220)
    emu.set_ev(1, "B")
    await until(lambda: c.controllers[1].plugged, what="plugged")
    await c.station.present_token(IdToken("TECH-0001"))
    emu.set_ev(1, "C")
    await until(lambda: emu.relay_closed(1), what="charging")
    emu.mute()  # the MCU's transmit line breaks
    await until(lambda: FaultKind.MCU_LINK in c.controllers[1].faults, timeout=2.0, what="the link fault")
    assert not station.commanded_closed  # the core withdrew the allow at once
    await until(lambda: not emu.relay_closed(1), timeout=0.5, what="the relay open")
    error = error_for(c.controllers[1].faults)
    assert error is not None and error.code == "InternalError" and error.vendor_code == "mcu-link"
    emu.mute(False)
    await until(lambda: FaultKind.MCU_LINK not in c.controllers[1].faults, timeout=2.0, what="the link back")
    # The core decides afresh: F for its minimum time, then PWM and the contactor again.
    await until(lambda: emu.relay_closed(1) and station.commanded_closed, timeout=3.0, what="charging again")
