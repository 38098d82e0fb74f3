"""The doctor's runner and report on their own: a step that hangs or raises fails with a hint
and the run goes on; the report's exit code and JSON; the table's hints."""
from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import NoReturn

from chargepoint.config import load_config
from chargepoint.doctor import Doctor, DoctorOptions, Outcome, Report
from chargepoint.doctor.context import Step
from chargepoint.doctor.render import render_json, render_table
from chargepoint.doctor.results import CheckResult, failed, passed, skipped
from chargepoint.doctor.runner import run_step
from drivers.sim.board import sim_board_of
from hal.board import build_board
from hal.clock import SystemClock

CONFIG = """\
[chargepoint]
id = "CP-DOCTOR"
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
[sim]
control_socket = "sim.sock"
"""


async def test_a_step_that_hangs_fails_when_its_time_is_up() -> None:
    async def hang() -> None:
        await asyncio.Event().wait()

    result = await run_step(Step("EVSE 1", "socket lock", "lock and unlock", hang, 0.05), SystemClock())

    assert result.outcome is Outcome.FAIL
    assert result.verdict.detail == "no result within 0.05 s"
    assert "wiring" in result.verdict.hint
    assert 0.05 <= result.duration_s < 1.0


async def test_a_step_whose_driver_raises_fails_with_the_error() -> None:
    async def broken() -> NoReturn:
        raise OSError(121, "Remote I/O error")

    result = await run_step(Step("EVSE 1", "control pilot", "+12 V at rest", broken, 1.0), SystemClock())

    assert result.outcome is Outcome.FAIL
    assert "OSError" in result.verdict.detail and "Remote I/O error" in result.verdict.detail


class RaisingLock:
    """A lock whose driver refuses every command."""

    commanded_locked = False

    def set_locked(self, locked: bool) -> None:
        raise RuntimeError("lock driver refused")

    def feedback_locked(self) -> bool | None:
        return False


async def test_one_broken_device_fails_alone_and_the_rest_still_runs(tmp_path: Path) -> None:
    (tmp_path / "firmware.toml").write_text(CONFIG)
    config = load_config(tmp_path / "firmware.toml")
    board = build_board(config, SystemClock())
    board.evses[1].lock = RaisingLock()  # type: ignore[assignment]
    sim = sim_board_of(board)

    report = await Doctor(config, DoctorOptions(no_badge=True, pattern_hold_s=0.01), board=board).run()

    assert [(r.device, r.check) for r in report.results if r.outcome is Outcome.FAIL] == [
        ("socket lock", "lock and unlock")]
    lock = next(r for r in report.results if r.device == "socket lock")
    assert "lock driver refused" in lock.verdict.detail
    assert [r.device for r in report.results][-3:] == ["indicator", "heartbeat", "badge reader"]
    assert sim.evses[1].pilot.output.mode.value == "state_f"
    assert report.exit_code == 1


def test_exit_code_and_json_of_a_report() -> None:
    report = Report(board="pi", results=[
        CheckResult("EVSE 1", "proximity pilot", "cable coding", passed("no cable (open)", resistance_ohm=float("inf"))),
        CheckResult("box", "badge reader", "badge", skipped("skipped (--no-badge)")),
    ])
    assert report.exit_code == 0

    data = json.loads(render_json(report))
    assert data["ok"] is True and data["summary"] == {"pass": 1, "fail": 0, "skipped": 1}
    assert data["results"][0]["values"] == {"resistance_ohm": None}

    report.results.append(CheckResult("EVSE 1", "contactor", "open at rest",
                                      failed("feedback reads closed while commanded open", "welded contacts")))
    assert report.exit_code == 1
    assert json.loads(render_json(report))["ok"] is False

    report.results.pop()
    report.interrupted = True
    assert report.exit_code == 1


def test_the_table_shows_each_failure_with_what_to_check() -> None:
    report = Report(board="pi", results=[
        CheckResult("EVSE 1", "contactor", "open at rest", passed("open, feedback agrees")),
        CheckResult("EVSE 1", "energy meter", "every register",
                    failed("0/8 registers", "no answer from Modbus address 7: check the address",
                           lines=("energy_import_wh: FAILED (timeout)",))),
        CheckResult("box", "badge reader", "badge", skipped("skipped (--no-badge)")),
    ], safe_state={"1": {"contactor_closed": False, "pilot": "state_f"}})

    table = render_table(report)

    lines = table.splitlines()
    meter = next(i for i, line in enumerate(lines) if "every register" in line)
    assert "FAIL  0/8 registers" in lines[meter]
    assert lines[meter + 1].strip() == "energy_import_wh: FAILED (timeout)"
    assert lines[meter + 2].strip().startswith("check: no answer from Modbus address 7")
    assert "PASS  open, feedback agrees" in table and "SKIP  skipped (--no-badge)" in table
    assert "check:" not in "".join(line for line in lines if "PASS" in line or "SKIP" in line)
    assert "1 passed, 1 failed, 1 skipped" in table
    assert "EVSE 1: contactor_closed=False, pilot=state_f" in table
