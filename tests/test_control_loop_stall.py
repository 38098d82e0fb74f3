"""A running controller whose event loop is blocked mid-charge: the stall guard's thread opens the
contactor within the configured time, the stall is reported as a fault once the loop runs again,
and charging resumes after the fault's hold time. Also: the heartbeat output toggles only while
the control loop runs."""
from __future__ import annotations

import asyncio
import time
from pathlib import Path

from chargepoint.app import build_controller, run_controller
from chargepoint.config import load_config
from drivers.sim.board import sim_board_of
from hal.clock import ScaledClock
from hal.types import FaultKind, IdToken

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


async def test_blocked_event_loop_opens_the_contactor_from_the_guard_thread(tmp_path: Path) -> None:
    (tmp_path / "firmware.toml").write_text(CONFIG)
    c = build_controller(load_config(tmp_path / "firmware.toml"), ScaledClock(1.0))
    sim = sim_board_of(c.board)
    stop = asyncio.Event()
    runner = asyncio.create_task(run_controller(c, stop))
    try:
        sim.plug(1)
        await _until(lambda: c.controllers[1].plugged)
        await c.station.present_token(IdToken("TECH-1"))  # offline: the whitelist authorises
        sim.set_ev_state(1, "C")
        await _until(lambda: c.controllers[1].snapshot().contactor_closed)
        toggles = c.board.heartbeat.toggles

        time.sleep(0.6)  # the event loop is stuck: no control cycle runs for 600 ms

        assert not c.board.evses[1].contactor.commanded_closed, "the guard did not open the contactor"
        assert c.board.heartbeat.toggles == toggles, "the heartbeat kept toggling without the loop"
        await _until(lambda: FaultKind.CONTROL_LOOP in c.controllers[1].faults)
        assert c.station.status_of(1)[0].value == "Faulted"
        # After the hold time the fault clears and the session charges again.
        await _until(lambda: c.controllers[1].snapshot().contactor_closed, timeout=10)
        assert FaultKind.CONTROL_LOOP not in c.controllers[1].faults
        assert c.board.heartbeat.toggles > toggles
    finally:
        stop.set()
        await runner
