"""The control loop runs in a thread of its own. A blocked event loop (a slow fsync, a busy
handler) does not delay a safety reaction; a stalled control loop is caught by the stall guard's
thread, which opens the contactor, and the stall is reported as a fault once the loop runs
again. The heartbeat output and systemd's watchdog follow the control loop, and systemd is fed
only while the event loop is alive too."""
from __future__ import annotations

import asyncio
import os
import socket
import threading
import time
from pathlib import Path

import pytest

import chargepoint.app as app
from chargepoint.app import build_controller, run_controller
from chargepoint.config import load_config
from drivers.sim.board import sim_board_of
from hal.clock import ScaledClock
from hal.types import CpReading, FaultKind, IdToken

CONFIG = """\
[chargepoint]
id = "CP-STALL"
vendor = "Borne"
model = "Test"
[ocpp]
version = "1.6"
csms_url = "ws://127.0.0.1:9/ocpp"
reconnect_min_s = 30
reconnect_max_s = 60
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
[safety]
control_loop_stall_ms = 200
"""


async def _until(predicate, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.01)


def _blocking_until(predicate, timeout: float = 5.0) -> None:
    """Wait while keeping the event loop blocked (the caller is on the loop's thread)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached while the event loop was blocked"
        time.sleep(0.005)


async def _charging(tmp_path: Path):
    (tmp_path / "firmware.toml").write_text(CONFIG)
    c = build_controller(load_config(tmp_path / "firmware.toml"), ScaledClock(1.0))
    sim = sim_board_of(c.board)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_controller(c, stop))
    sim.plug(1)
    await _until(lambda: c.controllers[1].plugged)
    await c.station.present_token(IdToken("TECH-1"))  # offline: the whitelist authorises
    sim.set_ev_state(1, "C")
    await _until(lambda: c.controllers[1].snapshot().contactor_closed)
    return c, sim, stop, runner


async def test_a_blocked_event_loop_does_not_delay_opening_on_c_to_b(tmp_path: Path) -> None:
    c, sim, stop, runner = await _charging(tmp_path)
    try:
        contactor = c.board.evses[1].contactor
        # The event loop is now stuck (as in a slow commit); the EV leaves C meanwhile.
        sim.set_ev_state(1, "B")
        _blocking_until(lambda: not contactor.commanded_closed, timeout=1.0)
        assert FaultKind.CONTROL_LOOP not in c.controllers[1].faults, "a blocked event loop is not a stall"
    finally:
        stop.set()
        await runner


async def test_a_stalled_control_loop_opens_the_contactor_from_the_guard_thread(tmp_path: Path) -> None:
    c, sim, stop, runner = await _charging(tmp_path)
    pilot = c.board.evses[1].pilot
    release = threading.Event()
    real_read = pilot.read

    def hanging_read() -> CpReading:
        release.wait(5.0)  # a CP sensor whose bus hangs: the control loop stops in the middle of a step
        return real_read()

    try:
        pilot.read = hanging_read  # type: ignore[method-assign]
        await _until(lambda: not c.board.evses[1].contactor.commanded_closed, timeout=2.0)
        assert pilot.output.mode.value == "state_f", "the guard leaves the pilot in state F"
        stalled_toggles = c.board.heartbeat.toggles
        await asyncio.sleep(0.3)
        assert c.board.heartbeat.toggles - stalled_toggles <= 1, "the heartbeat kept toggling without the loop"

        pilot.read = real_read  # type: ignore[method-assign]
        release.set()
        await _until(lambda: FaultKind.CONTROL_LOOP in c.controllers[1].faults)
        assert c.station.status_of(1)[0].value == "Faulted"
        # After the hold time the fault clears and the session charges again.
        await _until(lambda: c.controllers[1].snapshot().contactor_closed, timeout=10)
        assert FaultKind.CONTROL_LOOP not in c.controllers[1].faults
        assert c.board.heartbeat.toggles > stalled_toggles
    finally:
        release.set()
        stop.set()
        await runner


async def test_a_failing_control_step_makes_outputs_safe_and_stops_the_controller(tmp_path: Path) -> None:
    c, sim, stop, runner = await _charging(tmp_path)
    pilot = c.board.evses[1].pilot

    def broken_read() -> CpReading:
        raise OSError("I2C bus error")

    pilot.read = broken_read  # type: ignore[method-assign]
    with pytest.raises(OSError, match="I2C bus error"):
        await asyncio.wait_for(runner, 5.0)
    assert not c.board.evses[1].contactor.commanded_closed
    assert not pilot.output.pwm_on


async def test_systemd_is_fed_only_while_both_loops_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    sock_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(sock_path))
    listener.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", str(sock_path))
    monkeypatch.setenv("WATCHDOG_USEC", "100000")  # fed every 50 ms
    monkeypatch.setenv("WATCHDOG_PID", str(os.getpid()))
    monkeypatch.setattr(app, "EVENT_LOOP_STALL_S", 0.3)

    def keep_alives() -> int:
        count = 0
        while True:
            try:
                count += listener.recv(4096).decode().count("WATCHDOG=1")
            except BlockingIOError:
                return count

    c, sim, stop, runner = await _charging(tmp_path)
    try:
        keep_alives()
        await asyncio.sleep(0.3)
        assert keep_alives() >= 2, "a healthy controller feeds systemd"
        cycles_before = c.board.heartbeat.toggles
        time.sleep(1.0)  # the event loop is stuck; the control loop goes on
        assert c.board.heartbeat.toggles > cycles_before, "the control loop runs while the event loop is stuck"
        fed_while_stuck = keep_alives()
        # At most the keep-alives sent before the event loop's pulse went stale (0.3 s of 1 s).
        assert fed_while_stuck <= 8, f"systemd was fed {fed_while_stuck} times while the event loop was stuck"
        await asyncio.sleep(0.3)
        assert keep_alives() >= 2, "feeding resumes once the event loop runs again"
    finally:
        stop.set()
        await runner
        listener.close()
