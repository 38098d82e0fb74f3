"""`chargepoint doctor` on the simulated board with the repository's firmware.toml (its database
and sockets moved into tmp_path), and the command line: JSON output, exit codes, a running
controller, interruption."""
from __future__ import annotations

import asyncio
import json
import socket
import time
from pathlib import Path

import pytest

from chargepoint.cli import main
from chargepoint.config import load_config
from chargepoint.config.model import Config
from chargepoint.doctor import Doctor, DoctorOptions, Outcome
from chargepoint.doctor.exclusive import BUSY_MESSAGE
from chargepoint.doctor.render import render_table
from drivers.sim.board import sim_board_of
from hal.board import build_board
from hal.clock import SystemClock
from hal.jsonl_socket import Unreachable, request

pytestmark = pytest.mark.timeout(30)

REPO_CONFIG = Path(__file__).resolve().parents[1] / "firmware.toml"
FAST = ["--pattern-seconds", "0.01"]


def write_config(tmp_path: Path) -> Path:
    text = REPO_CONFIG.read_text()
    for old, new in (('path = "run/borne.db"', f'path = "{tmp_path / "borne.db"}"'),
                     ('admin_socket = "run/admin.sock"', f'admin_socket = "{tmp_path / "admin.sock"}"'),
                     ('control_socket = "run/sim.sock"', f'control_socket = "{tmp_path / "sim.sock"}"')):
        assert old in text, f"firmware.toml no longer has {old}"
        text = text.replace(old, new)
    path = tmp_path / "firmware.toml"
    path.write_text(text)
    return path


def outputs(config: Config) -> dict:
    """The simulated board's output latches (what real pins would hold after the run)."""
    assert config.sim is not None
    return json.loads(config.sim.control_socket.with_name("sim.outputs.json").read_text())


async def until_answered(path: Path, req: dict, deadline_s: float = 5.0) -> dict:
    deadline = time.monotonic() + deadline_s
    while True:
        try:
            return await request(path, req, timeout_s=1.0)
        except Unreachable:
            assert time.monotonic() < deadline, f"{path} never answered"
            await asyncio.sleep(0.01)


async def test_every_check_passes_on_the_simulated_board(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    options = DoctorOptions(allow_contactor=True, badge_timeout_s=5.0, pattern_hold_s=0.01)
    doctor = Doctor(config, options, clock=SystemClock())
    run = asyncio.create_task(doctor.run())

    # A technician taps a badge through the simulator's control socket, which the doctor serves;
    # meanwhile the admin socket tells `chargepoint status` that the doctor has the hardware.
    tapped = await until_answered(config.sim.control_socket, {"cmd": "tap", "tag": "TECH-0001"})
    status = await until_answered(config.storage.admin_socket, {"cmd": "status"})
    report = await run

    assert tapped["ok"] is True
    assert status == {"ok": False, "error": BUSY_MESSAGE}
    assert [r.outcome for r in report.results] == [Outcome.PASS] * len(report.results), render_table(report)
    checks = {(r.device, r.check) for r in report.results}
    assert {("control pilot", "+12 V at rest"), ("control pilot", "PWM"), ("proximity pilot", "cable coding"),
            ("RCM", "at rest"), ("RCM", "self-test"), ("contactor", "open at rest"), ("contactor", "close and open"),
            ("socket lock", "lock and unlock"), ("over-temperature", "input"), ("energy meter", "full reading"),
            ("indicator", "patterns"), ("heartbeat", "toggles"), ("badge reader", "badge")} == checks
    badge = next(r for r in report.results if r.device == "badge reader")
    assert badge.verdict.values["uid"] == "TECH-0001"
    assert report.exit_code == 0
    latched = outputs(config)["1"]
    assert latched["contactor_closed"] is False and latched["pilot"] == "state_f" and latched["locked"] is False
    assert not config.storage.admin_socket.exists() and not config.sim.control_socket.exists()


async def test_an_interrupted_run_leaves_the_outputs_safe(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path))
    board = build_board(config, SystemClock())
    sim = sim_board_of(board)
    doctor = Doctor(config, DoctorOptions(allow_contactor=True, no_badge=True, pattern_hold_s=0.01),
                    clock=SystemClock(), board=board)
    run = asyncio.create_task(doctor.run())
    deadline = time.monotonic() + 5.0
    while not sim.evses[1].contactor.commanded_closed:  # Ctrl-C while the contactor is closed
        assert time.monotonic() < deadline, "the doctor never closed the contactor"
        await asyncio.sleep(0.001)
    run.cancel()
    with pytest.raises(asyncio.CancelledError):
        await run

    assert doctor.report.interrupted and doctor.report.exit_code == 1
    assert not sim.evses[1].contactor.commanded_closed
    assert sim.evses[1].pilot.output.mode.value == "state_f"
    assert outputs(config)["1"]["contactor_closed"] is False
    assert "INTERRUPTED" in render_table(doctor.report)


def test_json_output_parses_and_exit_code_0(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)

    code = main(["doctor", "--config", str(path), "--no-badge", "--json", *FAST])

    data = json.loads(capsys.readouterr().out)
    assert code == 0
    assert data["ok"] is True and data["board"] == "sim"
    assert data["summary"] == {"pass": len(data["results"]) - 2, "fail": 0, "skipped": 2}
    skipped = {(r["device"], r["detail"]) for r in data["results"] if r["outcome"] == "skipped"}
    assert skipped == {("contactor", "skipped (needs --allow-contactor)"), ("badge reader", "skipped (--no-badge)")}
    assert data["safe_state"]["1"] == {"contactor_closed": False, "pilot": "state_f"}


def test_a_failure_gives_exit_code_1_and_a_hint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)

    code = main(["doctor", "--config", str(path), "--badge-timeout", "0.2", *FAST])

    out = capsys.readouterr().out
    assert code == 1
    assert "badge reader" in out and "FAIL  no badge within 0.2 s" in out
    assert "check: no badge was presented" in out and "chargepoint sim" in out
    assert "1 failed" in out


def test_a_broken_configuration_gives_exit_code_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("max_current_a = 32", "max_current_a = 500"))

    with pytest.raises(SystemExit) as exit_:
        main(["doctor", "--config", str(path), "--no-badge"])

    err = capsys.readouterr().err
    assert exit_.value.code == 2
    assert "max_current_a" in err and "firmware.toml:" in err


def test_refuses_while_a_controller_serves_the_admin_socket(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = write_config(tmp_path)
    config = load_config(path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as controller:  # stands in for `chargepoint run`
        controller.bind(str(config.storage.admin_socket))
        controller.listen(8)

        code = main(["doctor", "--config", str(path), "--no-badge", *FAST])
        captured = capsys.readouterr()
        assert code == 1
        assert "a controller is running" in captured.err and "--force" in captured.err
        assert captured.out == ""
        assert not config.sim.control_socket.with_name("sim.outputs.json").exists(), "the board was touched"

        code = main(["doctor", "--config", str(path), "--no-badge", "--force", *FAST])
        assert code == 0
        assert "0 failed" in capsys.readouterr().out
