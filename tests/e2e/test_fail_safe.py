"""Fail-safe process: outputs are safe when the controller is killed and `chargepoint safe-state`
runs (as systemd's ExecStopPost does), and safe again first thing when a controller starts."""
from __future__ import annotations

import asyncio
import json
import signal
import sys
import tomllib
from pathlib import Path

from e2e_harness import E2E, SUBPROCESS_ENV


def latches(e2e: E2E) -> dict:
    sock = Path(tomllib.loads(e2e.cp.config_path.read_text())["sim"]["control_socket"])
    return json.loads(sock.with_name(sock.stem + ".outputs.json").read_text())["1"]


async def safe_state(e2e: E2E) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "chargepoint", "safe-state", "--config", str(e2e.cp.config_path),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT, env=SUBPROCESS_ENV)
    out, _ = await asyncio.wait_for(proc.communicate(), 15)
    return proc.returncode or 0, out.decode()


async def test_sigkill_while_charging_then_safe_state_leaves_outputs_safe(ready: E2E) -> None:
    e2e = ready
    await e2e.start_transaction("TAG-OK")
    await e2e.sim_ok("ev-state", "1", "C")
    await e2e.wait_evse(lambda s: s["contactor_closed"] and s["power_w"] > 0)
    assert latches(e2e)["contactor_closed"] is True

    e2e.cp.proc.send_signal(signal.SIGKILL)
    await e2e.cp.proc.wait()
    # Like real output pins, the latches keep their level when the process dies...
    assert latches(e2e)["contactor_closed"] is True and latches(e2e)["pilot"] == "pwm"

    code, out = await safe_state(e2e)
    assert code == 0, out
    # ...until safe-state drives them safe: contactor open, pilot at -12 V (not available).
    outputs = latches(e2e)
    assert outputs["contactor_closed"] is False
    assert outputs["pilot"] == "state_f" and outputs["pwm_duty_percent"] == 0.0
    assert "contactor_closed=False" in out


async def test_a_starting_controller_sets_outputs_safe_first(ready: E2E) -> None:
    e2e = ready
    await e2e.start_transaction("TAG-OK")
    await e2e.sim_ok("ev-state", "1", "C")
    await e2e.wait_evse(lambda s: s["contactor_closed"])
    e2e.cp.proc.send_signal(signal.SIGKILL)
    await e2e.cp.proc.wait()
    e2e.cp.proc = None
    mark = e2e.csms.mark()
    await e2e.cp.start()
    await e2e.csms.wait_for("BootNotification", since=mark, timeout=15)
    await e2e.wait_evse(lambda s: s["connector_status"] in ("Preparing", "Finishing", "Available"))
    # The restarted controller never re-closed the contactor on its own: a new session is needed.
    assert latches(e2e)["contactor_closed"] is False
    status = await e2e.evse()
    assert status["contactor_closed"] is False and status["transaction_id"] is None
