"""The emulated MCU against a raw peer on its pty: the rules of docs/mcu-protocol.md that the
MCU enforces by itself (session, fresh allow, C/D only, watchdog, corrupt lines), checked line
by line without Borne's driver in between. The emulator runs on a ManualClock."""
from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mcu_rig import RawPeer, is_report, until

from drivers.mcu import protocol as p
from drivers.mcu.emulator import McuEmulator, _command
from hal.clock import ManualClock
from hal.types import PilotMode


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(tmp_path: Path, clock: ManualClock) -> Iterator[McuEmulator]:
    emulator = McuEmulator(1, clock=clock, link=tmp_path / "mcu").start()
    yield emulator
    emulator.stop()


@pytest.fixture
def peer(emu: McuEmulator) -> Iterator[RawPeer]:
    raw = RawPeer(emu.port)
    yield raw
    raw.close()


def open_session(peer: RawPeer) -> None:
    hello = peer.send(p.HELLO, 1, "timeout=500")
    assert peer.answer(hello).verb == p.ACK
    peer.expect(is_report(p.HB, p.RUN))


def keep_alive(peer: RawPeer, clock: ManualClock, seconds: float, step: float = 0.3) -> None:
    """Let `seconds` pass on the MCU's clock with a heartbeat from Borne at every step."""
    while seconds > 1e-9:
        clock.advance(min(step, seconds))
        seconds -= step
        assert peer.answer(peer.send(p.HB)).verb == p.ACK


def test_boots_safe_and_refuses_commands_before_hello(emu: McuEmulator, peer: RawPeer) -> None:
    emu.reboot()
    peer.expect(is_report(p.HELLO, "1", "evses=1", "caps=pp,lock,temp"))
    peer.expect(is_report(p.HB, p.SAFE, p.WHY_BOOT))
    answer = peer.answer(peer.send(p.POWER, 1, "ON"))
    assert answer.verb == p.NAK and answer.args[1] == p.SESSION
    assert emu.pilot(1).mode is PilotMode.STATE_F and not emu.allowed(1)


@pytest.mark.parametrize("args, reason", [((2,), p.BAD_VERSION), ((1, "timeout=50"), p.RANGE), ((), p.SYNTAX)])
def test_hello_refusals(emu: McuEmulator, peer: RawPeer, args: tuple[object, ...], reason: str) -> None:
    answer = peer.answer(peer.send(p.HELLO, *args))
    assert answer.verb == p.NAK and answer.args[1] == reason
    assert emu.mode == (p.SAFE, p.WHY_BOOT)


@pytest.mark.parametrize("command, reason", [
    ((p.POWER, 3, "ON"), p.NO_EVSE), ((p.POWER, 1, "MAYBE"), p.SYNTAX), ((p.PILOT, 1, "PWM", "0.00"), p.RANGE),
    ((p.PILOT, 1, "SQUARE"), p.SYNTAX), (("DANCE", 1), p.UNKNOWN), ((p.RCMRESET,), p.SYNTAX),
])
def test_command_refusals_name_their_reason(emu: McuEmulator, peer: RawPeer, command: tuple[object, ...],
                                            reason: str) -> None:
    open_session(peer)
    answer = peer.answer(peer.send(*command))  # type: ignore[arg-type]
    assert answer.verb == p.NAK and answer.args[1] == reason


def test_relay_closes_only_in_c_with_pwm_and_a_fresh_allow(emu: McuEmulator, peer: RawPeer,
                                                           clock: ManualClock) -> None:
    open_session(peer)
    emu.set_ev(1, "B")
    peer.answer(peer.send(p.POWER, 1, "ON"))
    peer.answer(peer.send(p.PILOT, 1, "PWM", "53.33"))
    peer.expect(is_report(p.CP, "1", "B", "hi=9.00", "lo=-12.00", "pilot=53.33"))
    assert not emu.relay_driven(1)  # B: connected, not ready
    peer.answer(peer.send(p.PILOT, 1, "HIGH"))
    emu.set_ev(1, "C")
    peer.expect(is_report(p.CP, "1", "C", "pilot=HIGH"))
    assert not emu.relay_driven(1)  # C without PWM: never closes
    peer.answer(peer.send(p.PILOT, 1, "PWM", "53.33"))
    peer.expect(is_report(p.RELAY, "1", "drive=1", "fb=1"))
    peer.drain()
    keep_alive(peer, clock, 0.6)  # heartbeats, but the allow is not repeated: it goes stale
    peer.expect(is_report(p.RELAY, "1", "drive=0", "fb=0"))
    assert emu.mode == (p.RUN, None)
    peer.answer(peer.send(p.POWER, 1, "ON"))
    until(lambda: emu.relay_closed(1), what="the relay closed again on a fresh allow")
    emu.set_ev(1, "B")  # the EV stops: the MCU opens by itself
    until(lambda: not emu.relay_closed(1), what="the relay open when the EV left C")


def test_goes_safe_when_borne_falls_silent_and_stays_open_until_allowed_again(
        emu: McuEmulator, peer: RawPeer, clock: ManualClock) -> None:
    open_session(peer)
    emu.set_ev(1, "C")
    peer.answer(peer.send(p.PILOT, 1, "PWM", "26.67"))
    peer.answer(peer.send(p.POWER, 1, "ON"))
    until(lambda: emu.relay_closed(1), what="the relay closed")
    keep_alive(peer, clock, 0.4)
    assert emu.mode == (p.RUN, None)  # heartbeats keep the session...
    peer.drain()
    clock.advance(0.51)  # ...silence longer than the timeout ends it
    peer.expect(is_report(p.HB, p.SAFE, p.WHY_WATCHDOG))
    assert not emu.relay_closed(1) and not emu.allowed(1) and emu.pilot(1).mode is PilotMode.STATE_F
    peer.expect(is_report(p.CP, "1", "F", "pilot=F"))
    refused = peer.answer(peer.send(p.POWER, 1, "ON"))
    assert refused.verb == p.NAK and refused.args[1] == p.SESSION
    open_session(peer)  # a new session withdraws the allow: still open, still F
    peer.answer(peer.send(p.HB))
    assert not emu.relay_driven(1) and emu.pilot(1).mode is PilotMode.STATE_F
    peer.answer(peer.send(p.PILOT, 1, "PWM", "26.67"))
    peer.answer(peer.send(p.POWER, 1, "ON"))
    until(lambda: emu.relay_closed(1), what="the relay closed after an explicit allow")


def test_corrupt_lines_are_dropped_and_the_next_one_is_answered(emu: McuEmulator, peer: RawPeer) -> None:
    open_session(peer)
    bad = bytearray(b"5 POWER 1 ON*63AC\n")  # the CRC of another line
    peer.write(b"\x00\xff\xfenoise" + bytes(bad) + b"x" * 300 + b"\n")
    good = peer.send(p.PILOT, 1, "HIGH")
    assert peer.answer(good).verb == p.ACK
    assert not emu.allowed(1)
    assert emu.stats.bad == 1 and emu.stats.overlong == 1
    assert not [f for f in peer.frames if f.verb == p.ACK and f.args == ("5",)]


def test_rcm_trip_latches_until_reset_and_self_test(emu: McuEmulator, peer: RawPeer, clock: ManualClock) -> None:
    open_session(peer)
    emu.set_ev(1, "C")
    peer.answer(peer.send(p.PILOT, 1, "PWM", "26.67"))
    peer.answer(peer.send(p.POWER, 1, "ON"))
    refused = peer.answer(peer.send(p.RCMTEST, 1))
    assert refused.verb == p.NAK and refused.args[1] == p.ENERGISED
    emu.residual_current(1, True)
    peer.expect(is_report(p.FAULT, "1", p.F_RCM))
    assert not emu.relay_closed(1)
    assert peer.answer(peer.send(p.RCMRESET, 1)).args[1:] == (p.ACTIVE,)
    emu.residual_current(1, False)
    assert peer.answer(peer.send(p.RCMRESET, 1)).verb == p.ACK
    peer.expect(is_report(p.FAULT, "1", "-"))
    emu.set_ev(1, "A")
    peer.answer(peer.send(p.POWER, 1, "OFF"))
    assert peer.answer(peer.send(p.RCMTEST, 1)).verb == p.ACK
    assert peer.answer(peer.send(p.RCMTEST, 1)).args[1:] == (p.BUSY,)
    keep_alive(peer, clock, 1.3, step=0.2)
    peer.expect(is_report(p.TEST, "1", "PASS", "trip_ms=700", "release_ms=1200"))


def test_weld_and_c1_backstop(emu: McuEmulator, peer: RawPeer, clock: ManualClock) -> None:
    open_session(peer)
    emu.set_ev(1, "C")
    peer.answer(peer.send(p.PILOT, 1, "PWM", "26.67"))
    peer.answer(peer.send(p.POWER, 1, "ON"))
    until(lambda: emu.relay_closed(1), what="the relay closed")
    peer.answer(peer.send(p.PILOT, 1, "HIGH"))  # C2 -> C1: the EV should stop drawing...
    for _ in range(19):  # ...the MCU keeps the relay 6 s at most, allow or not
        clock.advance(0.3)
        peer.answer(peer.send(p.POWER, 1, "ON"))
        assert emu.relay_driven(1)
    clock.advance(0.35)
    peer.answer(peer.send(p.POWER, 1, "ON"))
    assert not emu.relay_driven(1)
    peer.answer(peer.send(p.PILOT, 1, "PWM", "26.67"))
    until(lambda: emu.relay_driven(1), what="closed again with PWM")
    emu.weld(1)
    peer.answer(peer.send(p.POWER, 1, "OFF"))
    assert emu.relay_closed(1) and not emu.relay_driven(1)
    keep_alive(peer, clock, 0.3)
    peer.expect(is_report(p.FAULT, "1", p.F_WELD))
    peer.answer(peer.send(p.POWER, 1, "ON"))
    peer.answer(peer.send(p.HB))
    assert not emu.relay_driven(1)  # never drives the coil onto welded contacts


def test_diode_fault_and_pp_reports(emu: McuEmulator, peer: RawPeer) -> None:
    open_session(peer)
    peer.answer(peer.send(p.PILOT, 1, "PWM", "10.00"))
    emu.set_pp(1, 220)
    emu.set_ev(1, "B")
    emu.set_diode_fault(1, True)
    peer.expect(is_report(p.CP, "1", "B", "hi=9.00", "lo=9.00", "diode=1"))
    peer.expect(is_report(p.PP, "1", "ohm=220"))


def test_command_line_controls() -> None:
    emu = McuEmulator(1, clock=ManualClock()).start()
    try:
        assert _command(emu, ["ev", "1", "c"]) == "ok"
        assert _command(emu, ["weld", "1", "on"]) == "ok"
        assert "EV C" in (_command(emu, ["status"]) or "")
        assert "commands" in (_command(emu, ["ev", "9", "C"]) or "")
        assert (_command(emu, ["rcmtest", "1", "sometimes"]) or "").startswith("not accepted")
        assert _command(emu, ["quit"]) is None
        assert emu.relay_closed(1)  # the weld
    finally:
        emu.stop()
