"""The service unit passes systemd-analyze verify and says what a fail-safe unit must say; the
controller process reports READY and feeds the watchdog over NOTIFY_SOCKET."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

UNIT = Path(__file__).resolve().parents[1] / "systemd" / "chargepoint.service"
CHARGEPOINT = Path(sys.executable).parent / "chargepoint"


def directives() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for line in UNIT.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith(("#", "[")):
            key, _, value = line.partition("=")
            out.setdefault(key.strip(), []).append(value.strip())
    return out


def test_unit_is_fail_safe() -> None:
    d = directives()
    assert d["Type"] == ["notify"]
    assert int(d["WatchdogSec"][0]) > 0
    assert d["Restart"] == ["always"]
    assert "StartLimitBurst" in d and "StartLimitIntervalSec" in d
    assert any("safe-state" in v for v in d["ExecStopPost"])
    assert d["User"] == ["borne"]
    assert set(d["SupplementaryGroups"][0].split()) >= {"gpio", "i2c", "dialout"}
    assert d["StateDirectory"] == ["borne"]
    assert "PrivateDevices" not in d  # it would hide /dev/gpiochip*, /dev/i2c-*, /dev/tty*
    assert d["NoNewPrivileges"] == ["yes"] and d["ProtectSystem"] == ["strict"]


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    tool = shutil.which("systemd-analyze")
    if tool is None:
        if os.environ.get("CI"):
            pytest.fail("systemd-analyze is missing: .ci/run must install systemd")
        pytest.skip("systemd-analyze is not installed here")
    unit = tmp_path / "chargepoint.service"
    text = UNIT.read_text()
    for release in ("current", "previous"):
        text = text.replace(f"/opt/borne/{release}/venv/bin/chargepoint", str(CHARGEPOINT))
    unit.write_text(text.replace("ReadWritePaths=/opt/borne", f"ReadWritePaths={tmp_path}"))
    result = subprocess.run([tool, "verify", str(unit)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    problems = [l for l in result.stderr.splitlines() if str(unit) in l]
    assert problems == [], "\n".join(problems)


def test_controller_reports_ready_and_feeds_the_watchdog(tmp_path: Path) -> None:
    config = tmp_path / "firmware.toml"
    config.write_text(
        '[chargepoint]\nid = "CP-SD"\nvendor = "Borne"\nmodel = "Test"\n[ocpp]\nversion = "1.6"\n'
        'csms_url = "ws://127.0.0.1:9/ocpp"\n[board]\nkind = "sim"\n[storage]\npath = "db"\n'
        '[[evse]]\nid = 1\nmax_current_a = 16\nphases = 3\n[[evse.connector]]\nid = 1\n'
        '[sim]\ncontrol_socket = "s.sock"\n')
    notify_path = tmp_path / "notify.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(str(notify_path))
    server.settimeout(10)
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"}
    env.pop("WATCHDOG_PID", None)
    proc = subprocess.Popen([sys.executable, "-m", "chargepoint", "run", "--config", str(config)],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        messages: list[str] = []
        deadline = time.monotonic() + 15
        while messages.count("WATCHDOG=1") < 5 and time.monotonic() < deadline:
            messages.append(server.recv(4096).decode())
        assert messages[0].startswith("READY=1")
        assert messages.count("WATCHDOG=1") >= 5
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.close()
