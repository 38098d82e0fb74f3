"""Borne's co-processor driver (drivers/mcu: link and hal/ devices) against the emulated MCU on
a pty. Both sides run on their own ManualClock: heartbeats, silence and the MCU's timers move
only when a test advances them; the tests poll for the result with a deadline."""
from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
import serial
from mcu_rig import Rig, mcu_rig, until

from drivers.mcu import protocol as p
from drivers.mcu.codec import encode
from drivers.mcu.devices import McuContactor, McuPilot
from drivers.mcu.link import LinkSettings, McuLink
from hal.clock import ManualClock
from hal.types import CpReading, CpState, PilotMode


def charging(rig: Rig) -> None:
    """EV in C, PWM on, Borne allows: the MCU closes the relay."""
    rig.emu.set_ev(1, "C")
    rig.pilot.set_pwm(53.33)
    rig.contactor.set_closed(True)
    until(lambda: rig.contactor.feedback_closed() is True, what="relay feedback closed")


def test_cp_readings_follow_the_ev(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.pilot.set_constant_high()
        until(lambda: rig.emu.pilot(1).mode is PilotMode.CONSTANT_HIGH, what="+12 V at the MCU")
        until(lambda: rig.pilot.read() == CpReading(CpState.A))
        for state in ("B", "C", "D", "B", "E", "A"):
            rig.emu.set_ev(1, state)
            until(lambda: rig.pilot.read().state is CpState(state), what=f"state {state}")
        rig.emu.set_ev(1, "B")
        rig.pilot.set_pwm(26.67)
        until(lambda: rig.pilot.plateaus() == (9.0, -12.0), what="the PWM's plateaus")
        rig.emu.set_diode_fault(1, True)
        until(lambda: rig.pilot.read() == CpReading(CpState.B, diode_fault=True), what="the diode fault")
        assert rig.pilot.plateaus() == (9.0, 9.0)


def test_readings_under_f_belong_to_f_only(tmp_path: Path) -> None:
    """-12 V is the EVSE's own signal: a report taken under F does not replace the EV's state
    while Borne no longer commands F."""
    with mcu_rig(tmp_path) as rig:
        rig.pilot.set_constant_high()
        rig.emu.set_ev(1, "B")
        until(lambda: rig.pilot.read().state is CpState.B)
        rig.emu.send(p.CP, 1, "F", "hi=-12.00", "lo=-12.00", "diode=0", "pilot=F")  # a late report
        until(lambda: rig.link.view(1).cp.state is CpState.F, what="the late report")  # type: ignore[union-attr]
        assert rig.pilot.read() == CpReading(CpState.B)
        rig.pilot.set_state_f()
        until(lambda: rig.pilot.read() == CpReading(CpState.F), what="F while commanding F")


def test_relay_closes_only_in_c_with_a_fresh_allow_and_opens_when_the_ev_stops(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.emu.set_ev(1, "B")
        rig.pilot.set_pwm(53.33)
        rig.contactor.set_closed(True)
        until(lambda: rig.emu.allowed(1), what="the allow at the MCU")
        assert rig.contactor.commanded_closed
        rig.heartbeat()
        assert rig.contactor.feedback_closed() is False and not rig.emu.relay_closed(1)  # B: stays open
        rig.emu.set_ev(1, "C")
        until(lambda: rig.contactor.feedback_closed() is True, what="closed in C")
        rig.emu.set_ev(1, "B")  # the MCU opens by itself, before Borne has even looked
        until(lambda: rig.contactor.feedback_closed() is False, what="opened in B")
        assert rig.contactor.commanded_closed and rig.emu.allowed(1)
        rig.contactor.set_closed(False)
        until(lambda: not rig.emu.allowed(1), what="the allow withdrawn")


def test_every_heartbeat_repeats_the_wanted_state(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        charging(rig)
        rig.emu.drop_next(1)  # the line carrying the withdrawal is lost
        rig.contactor.set_closed(False)
        until(lambda: rig.emu.dropping == 0, what="the line lost")
        assert rig.emu.allowed(1) and rig.emu.relay_closed(1)
        rig.heartbeat()
        until(lambda: not rig.emu.relay_closed(1), what="the relay opened by the repeated state")


def test_weld_is_reported_by_the_feedback_and_by_the_mcu(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        charging(rig)
        rig.emu.weld(1)
        rig.contactor.set_closed(False)
        until(lambda: not rig.emu.relay_driven(1), what="the coil off")
        assert rig.contactor.feedback_closed() is True and not rig.contactor.commanded_closed
        rig.emu_clock.advance(0.3)
        until(lambda: p.F_WELD in rig.link.view(1).faults, what="the MCU's WELD report")


def test_rcm_trip_and_reset(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        charging(rig)
        rig.emu.residual_current(1, True)
        until(rig.rcm.tripped, what="the trip")
        assert rig.contactor.feedback_closed() is False  # the MCU opened by itself
        rig.rcm.reset()  # still flowing: the MCU refuses, the trip stays
        until(lambda: not rig.link.view(1).rcm_reset_pending, what="the MCU's answer")
        assert rig.rcm.tripped()
        rig.emu.residual_current(1, False)
        rig.rcm.reset()
        assert not rig.rcm.tripped()  # at once: an older report must not re-latch the core
        until(lambda: not rig.link.view(1).rcm_reset_pending and rig.link.view(1).faults == frozenset())
        assert not rig.rcm.tripped()


async def _self_test(rig: Rig) -> bool:
    """Runs the self-test while both clocks move on in steps of one heartbeat, the MCU's only
    after it has heard Borne's heartbeat (so its watchdog stays fed)."""
    task = asyncio.ensure_future(rig.rcm.self_test())
    await asyncio.sleep(0)
    while not task.done():
        rig.heartbeat()
        rig.emu_clock.advance(rig.link.settings.heartbeat_s)
        for _ in range(3):
            await asyncio.sleep(0)
    return task.result()


@pytest.mark.parametrize("outcome, passed", [("pass", True), ("no-trip", False), ("stuck", False)])
async def test_rcm_self_test(tmp_path: Path, outcome: str, passed: bool) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.emu.rcm_test_outcome(1, outcome)
        assert await _self_test(rig) is passed
        assert rig.rcm.last_self_test.startswith("passed" if passed else "failed")
        if outcome == "stuck":
            until(rig.rcm.tripped, what="the output that never released, latched")


async def test_self_test_refused_while_tripped_or_without_answer(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.emu.residual_current(1, True)
        until(rig.rcm.tripped)
        assert await _self_test(rig) is False
        assert rig.rcm.last_self_test == "failed: refused: ACTIVE"
        rig.emu.residual_current(1, False)
        rig.emu.mute()
        assert await _self_test(rig) is False  # no answer at all: failed after the timeout


def test_mcu_goes_safe_when_borne_falls_silent_and_the_session_comes_back(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        charging(rig)
        rig.emu.deaf()  # Borne's lines no longer arrive
        rig.emu_clock.advance(0.51)
        until(lambda: rig.emu.mode == (p.SAFE, p.WHY_WATCHDOG), what="the MCU safe")
        assert not rig.emu.relay_closed(1) and rig.emu.pilot(1).mode is PilotMode.STATE_F
        until(rig.link_fault.active, what="Borne's link fault")
        assert rig.contactor.feedback_closed() is None
        rig.emu.deaf(False)
        rig.contactor.set_closed(False)  # what the core does on the fault; then a new session
        until(lambda: rig.link.session and not rig.link_fault.active(), what="a new session")
        assert rig.emu.mode == (p.RUN, None) and not rig.emu.relay_closed(1)
        until(lambda: rig.emu.pilot(1).mode is PilotMode.PWM, what="the wanted pilot sent again")
        assert not rig.emu.relay_closed(1)
        rig.contactor.set_closed(True)
        until(lambda: rig.emu.relay_closed(1), what="closed on Borne's explicit allow")


def test_no_session_while_borne_allows_power(tmp_path: Path) -> None:
    link = McuLink(LinkSettings(str(tmp_path / "none")), [1, 2], ManualClock())
    link.set_allow(2, True)
    assert [verb for verb, _, _ in link._due_lines()] == []
    link.set_allow(2, False)
    assert [verb for verb, _, _ in link._due_lines()] == [p.HELLO]
    assert [verb for verb, _, _ in link._due_lines()] == []  # not again before the retry time
    link.close()


def test_link_fault_when_the_mcu_falls_silent_and_recovery(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        charging(rig)
        assert not rig.link_fault.active()
        rig.emu.mute()
        rig.heartbeat()  # everything the MCU wrote before falling silent is on the line...
        rig.settle()  # ...and read
        rig.advance(0.35)  # silent for 0.35 to 0.45 s: within the 0.5 s timeout
        assert not rig.link_fault.active()
        rig.advance(0.2)  # 0.55 to 0.65 s
        assert rig.link_fault.active() and rig.contactor.feedback_closed() is None
        rig.emu.mute(False)
        rig.heartbeat()  # answered again
        until(lambda: not rig.link_fault.active(), what="the link back")
        assert rig.link.stats.sessions == 1  # the MCU never left the session


def test_port_vanishes_and_returns(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.pilot.set_constant_high()
        until(lambda: rig.emu.pilot(1).mode is PilotMode.CONSTANT_HIGH)
        rig.emu.vanish()
        until(rig.link_fault.active, what="the fault once the port is gone")
        until(lambda: rig.link.stats.port_losses == 1)
        rig.pilot.set_pwm(16.0)  # changed while the port is gone
        rig.emu.appear()
        until(lambda: rig.link.session and not rig.link_fault.active(), timeout=5.0, what="a session on the new port")
        assert rig.link.stats.sessions == 2
        until(lambda: rig.emu.pilot(1).mode is PilotMode.PWM, what="the wanted state sent on the new port")


def test_mcu_restart_ends_the_session_and_a_new_one_starts(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.emu.reboot()
        until(lambda: rig.link.stats.sessions == 2, what="a new session")
        assert rig.emu.mode == (p.RUN, None)


def test_an_mcu_without_the_configured_capabilities_gets_no_session(tmp_path: Path) -> None:
    with mcu_rig(tmp_path, caps=(p.CAP_TEMP,), session=False) as rig:
        until(lambda: rig.link.refusal is not None, what="the HELLO exchange")
        assert "missing lock,pp" in rig.link.refusal  # type: ignore[operator]
        assert not rig.link.session and rig.link_fault.active()


def test_corrupt_lines_from_the_mcu_are_dropped(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        rig.pilot.set_constant_high()
        until(lambda: rig.pilot.read().state is CpState.A)
        forged = encode(900, p.CP, 1, "C", "hi=6.00", "lo=6.00", "diode=0", "pilot=HIGH")
        rig.emu.send_raw(b"\xff\x00babble" + forged[:-6] + b"*0000\n" + b"#" * 400 + b"\n")
        rig.emu.set_ev(1, "B")
        until(lambda: rig.pilot.read().state is CpState.B, what="the next valid report")
        assert rig.link.decoder.stats.bad >= 1 and rig.link.decoder.stats.overlong == 1


def test_pp_lock_and_temperature(tmp_path: Path) -> None:
    with mcu_rig(tmp_path) as rig:
        assert rig.proximity.read().ampacity_a is None
        rig.emu.set_pp(1, 220)
        until(lambda: rig.proximity.read().ampacity_a == 32, what="a 32 A cable")
        rig.emu.set_pp(1, 20)
        until(lambda: rig.proximity.read().error, what="a shorted PP")
        rig.lock.set_locked(True)
        until(lambda: rig.lock.feedback_locked() is True, what="locked")
        assert rig.lock.commanded_locked and rig.emu.lock_driven(1)
        charging(rig)
        rig.emu.set_over_temperature(1, True)
        until(rig.over_temperature.active, what="over-temperature")
        until(lambda: rig.contactor.feedback_closed() is False, what="the relay opened by the MCU")


class BlockedPort:
    """A serial port whose every write blocks until the write timeout, as when the MCU stops
    reading and the buffer is full."""

    def __init__(self) -> None:
        self._r, self._w = os.pipe()
        self.writes = 0

    def fileno(self) -> int:
        return self._r

    def read(self, size: int) -> bytes:
        return os.read(self._r, size)

    def write(self, data: bytes) -> None:
        self.writes += 1
        time.sleep(0.05)
        raise serial.SerialTimeoutException("write timeout")

    def close(self) -> None:
        os.close(self._r)
        os.close(self._w)


def test_hal_calls_do_not_wait_for_the_line() -> None:
    port = BlockedPort()
    link = McuLink(LinkSettings("blocked"), [1], ManualClock(), open_port=lambda _: port).start()
    contactor, pilot = McuContactor(link, 1), McuPilot(link, 1)
    try:
        until(lambda: port.writes >= 1, what="the link thread stuck in a write")
        start = time.perf_counter()
        for i in range(50):
            contactor.set_closed(i % 2 == 0)
            pilot.set_pwm(10 + i)
            pilot.read()
            contactor.feedback_closed()
        assert time.perf_counter() - start < 0.05  # one blocked write alone takes 50 ms
        until(lambda: link.stats.write_timeouts >= 1, what="the write given up")
        assert link.stats.port_losses == 0  # a full buffer is not a lost port
    finally:
        link.close()
